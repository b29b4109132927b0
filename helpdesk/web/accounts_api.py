"""Logging in and out, one's own password, and admins managing agents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff import admin
from helpdesk.staff.accounts import (
    PUBLISHED_PASSWORDS,
    AccountError,
    add_agent,
    authenticate,
    normalise_email,
)
from helpdesk.staff.login_throttle import log_failed_login
from helpdesk.staff.models import Agent
from helpdesk.staff.sessions import end_session, open_session
from helpdesk.web.auth import SESSION_COOKIE, Admin, CurrentAgent, csrf_token, session_of
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import (
    MAX_ID,
    AgentAccountOut,
    AgentNewIn,
    AgentOut,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    PasswordResetIn,
    RoleChangeIn,
)

router = APIRouter(prefix="/api")
AgentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The agent's id")]


def client_address(request: Request) -> str:
    """The caller's address. `X-Forwarded-For` counts only from `trusted_proxies` (uvicorn
    applies it before this sees the request)."""
    return (request.client.host if request.client else "unknown")[:64]


@router.post("/auth/login", response_model=LoginOut, tags=["auth"])
async def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Log in. Use the `token` as `Authorization: Bearer <token>` (in /docs: Authorize), or the
    session cookie this sets plus the `csrf_token` as `X-CSRF-Token` on changes."""
    runtime = runtime_of(request)
    agent, token = await sign_in(request, body.email, body.password)
    set_session_cookie(request, response, token)
    return LoginOut(
        token=token,
        csrf_token=csrf_token(runtime.secret_key, token),
        agent=AgentOut.model_validate(agent),
    )


async def sign_in(request: Request, email: str, password: str) -> tuple[Agent, str]:
    """Check the password under the login throttle and open a session: the agent and the
    session's token. Raises HTTPException (401, 403, 429) with words for the person. The API's
    login and the workspace's sign-in page both come here."""
    runtime = runtime_of(request)
    throttle = runtime.login_throttle
    email = normalise_email(email)[:254]
    address = client_address(request)
    now = runtime.clock.now()
    async with runtime.db.read() as session:
        refusal = await throttle.refusal(session, email, address, now)
    if refusal is not None:
        log_failed_login(email, address, f"refused without a check: {refusal.reason}")
        # Waiting costs this server nothing; answering at once lets a closed loop of retries
        # take the event loop from every customer (bench/abuse.py, "logins").
        await asyncio.sleep(runtime.settings.accounts.refusal_delay_seconds)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {refusal.retry_after:.0f} s",
            headers={"Retry-After": str(int(refusal.retry_after) + 1)},
        )
    async with runtime.db.transaction() as session:
        attempt = await throttle.attempt(session, email, address, now)
    async with runtime.db.read() as session:
        agent, reason = await authenticate(session, email, password)
    if agent is None:
        log_failed_login(email, address, reason)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong email or password")
    if password in PUBLISHED_PASSWORDS and not runtime.settings.demo:
        log_failed_login(email, address, "the account still has a published password")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this account still has the published demo password; an admin must set a new one",
        )
    async with runtime.db.transaction() as session:
        await throttle.succeeded(session, attempt, email, address)
        token = await open_session(
            session, agent, address=address, now=runtime.clock.now(), lifetime=_lifetime(request)
        )
    return agent, token


def _lifetime(request: Request) -> timedelta:
    return timedelta(hours=runtime_of(request).settings.session_max_age_hours)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The HttpOnly, SameSite=Lax session cookie (Secure behind an https public URL)."""
    runtime = runtime_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(_lifetime(request).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=runtime.settings.public_url.startswith("https://"),
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(request: Request, response: Response) -> None:
    """End this session: its token stops working at once, in every process."""
    runtime = runtime_of(request)
    token, _from_cookie = session_of(request)
    if token:
        async with runtime.db.transaction() as session:
            await end_session(session, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=AgentOut, tags=["auth"])
async def me(agent: CurrentAgent) -> AgentOut:
    return AgentOut.model_validate(agent)


@router.post("/me/password", status_code=204, tags=["auth"])
async def change_password(body: PasswordChangeIn, agent: CurrentAgent, request: Request) -> None:
    """Change your password. Your other sessions end; this one stays."""
    runtime = runtime_of(request)
    token, _from_cookie = session_of(request)
    try:
        await admin.check_current_password(agent, body.current_password)
        password_hash = await admin.new_password_hash(body.new_password)
    except AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    async with runtime.db.transaction() as session:
        mine = await admin.agent_by_id(session, agent.id)
        await admin.set_password(session, mine, password_hash, keep_session=token)


# ---- agent management (admins only) ----


@router.get("/admin/agents", response_model=list[AgentAccountOut], tags=["admin"])
async def list_all_agents(_admin: Admin, request: Request) -> list[AgentAccountOut]:
    """Every agent, disabled ones too."""
    async with runtime_of(request).db.read() as session:
        return [AgentAccountOut.model_validate(a) for a in await admin.all_agents(session)]


@router.post("/admin/agents", response_model=AgentAccountOut, status_code=201, tags=["admin"])
async def add_new_agent(body: AgentNewIn, _admin: Admin, request: Request) -> AgentAccountOut:
    """A new agent (as `helpdesk agent add` makes one), in the teams named."""
    runtime = runtime_of(request)
    teams = tuple(t.strip() for t in body.teams if t.strip())
    try:
        async with runtime.db.transaction() as session:
            agent = await add_agent(
                session,
                email=body.email,
                name=body.name,
                password=body.password,
                now=runtime.clock.now(),
                role=body.role,
                teams=teams,
            )
            await session.flush()
            return AgentAccountOut.model_validate(agent)
    except AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/admin/agents/{agent_id}/disable", response_model=AgentAccountOut, tags=["admin"])
async def disable_agent(agent_id: AgentId, _admin: Admin, request: Request) -> AgentAccountOut:
    """Disable the agent: their sessions end at once and they cannot log in."""
    return await _change(request, agent_id, admin.disable)


@router.post("/admin/agents/{agent_id}/enable", response_model=AgentAccountOut, tags=["admin"])
async def enable_agent(agent_id: AgentId, _admin: Admin, request: Request) -> AgentAccountOut:
    return await _change(request, agent_id, admin.enable)


@router.post("/admin/agents/{agent_id}/password", response_model=AgentAccountOut, tags=["admin"])
async def reset_agent_password(
    agent_id: AgentId, body: PasswordResetIn, _admin: Admin, request: Request
) -> AgentAccountOut:
    """Set a new password for the agent; every session of theirs ends."""
    try:
        password_hash = await admin.new_password_hash(body.password)
    except AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None

    async def reset(session: AsyncSession, agent: Agent) -> None:
        await admin.set_password(session, agent, password_hash)

    return await _change(request, agent_id, reset)


@router.put("/admin/agents/{agent_id}/role", response_model=AgentAccountOut, tags=["admin"])
async def change_agent_role(
    agent_id: AgentId, body: RoleChangeIn, _admin: Admin, request: Request
) -> AgentAccountOut:
    async def change(session: AsyncSession, agent: Agent) -> None:
        await admin.change_role(session, agent, body.role)

    return await _change(request, agent_id, change)


Operation = Callable[[AsyncSession, Agent], Awaitable[object]]


async def _change(request: Request, agent_id: int, operation: Operation) -> AgentAccountOut:
    runtime = runtime_of(request)
    try:
        async with runtime.db.transaction() as session:
            agent = await admin.agent_by_id(session, agent_id)
            await operation(session, agent)
            out = AgentAccountOut.model_validate(agent)
    except admin.NoSuchAgent as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return out
