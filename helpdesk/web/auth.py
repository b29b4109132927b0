"""Who is calling the agent API: a bearer token or the signed session cookie (with CSRF)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from helpdesk.common.security import Signer, TokenError
from helpdesk.staff.models import Agent, Role
from helpdesk.staff.permissions import OVERSEERS, has_role, role_names
from helpdesk.staff.queries import find_agent
from helpdesk.web.dependencies import runtime_of

SESSION_COOKIE = "helpdesk_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def session_token(sessions: Signer, agent: Agent) -> str:
    # Part of the password hash rides along, so changing a password ends old sessions.
    return sessions.sign({"a": agent.id, "p": agent.password_hash[-16:]})


def csrf_token(secret_key: str, session: str) -> str:
    key = secret_key.encode()
    return hmac.new(key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()[:40]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_agent(request: Request) -> Agent:
    runtime = runtime_of(request)
    header = request.headers.get("authorization", "")
    from_cookie = False
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        from_cookie = True
    if not token:
        raise _unauthorised("log in first: POST /api/auth/login")
    try:
        payload = runtime.agent_sessions.load(token)
    except TokenError as exc:
        raise _unauthorised(f"session {exc.reason.removeprefix('token ')}; log in again") from None
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token(runtime.secret_key, token)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    async with runtime.db.read() as session:
        agent = await find_agent(session, int(payload.get("a", 0)))
    if agent is None or not agent.active or agent.password_hash[-16:] != payload.get("p"):
        raise _unauthorised("session no longer valid; log in again")
    return agent


def requires(*roles: Role) -> Callable[[Request, Agent], Awaitable[Agent]]:
    """A dependency: the logged-in agent, refused with 403 unless it has one of `roles`."""

    async def agent_with_role(
        request: Request, agent: Annotated[Agent, Depends(current_agent)]
    ) -> Agent:
        if not has_role(agent, roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"only {role_names(roles)} may use {request.method} {request.url.path}",
            )
        return agent

    return agent_with_role


CurrentAgent = Annotated[Agent, Depends(current_agent)]
Overseer = Annotated[Agent, Depends(requires(*OVERSEERS))]
