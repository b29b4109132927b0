"""Who is calling the agent API: a bearer token or the session cookie (with CSRF).

Either way the token names a row in `agent_sessions` (`staff/sessions.py`): a request is
refused as soon as the row is gone (logout, password change, the agent disabled)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from helpdesk.staff.models import Agent, Role
from helpdesk.staff.permissions import OVERSEERS, has_role, role_names
from helpdesk.staff.sessions import agent_of, remembered_agent
from helpdesk.web.dependencies import runtime_of

SESSION_COOKIE = "helpdesk_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Declared for the OpenAPI document, so that /docs offers "Authorize" for both.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="session",
    description="The `token` from POST /api/auth/login",
)
_csrf = APIKeyHeader(
    name=CSRF_HEADER,
    auto_error=False,
    scheme_name="csrf",
    description="The `csrf_token` from POST /api/auth/login; needed only when the session "
    "cookie (not the bearer token) authenticates a request that changes something",
)


def csrf_token(secret_key: str, session: str) -> str:
    key = secret_key.encode()
    return hmac.new(key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()[:40]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def session_of(request: Request) -> tuple[str, bool]:
    """The session token the request carries, and whether it came in the cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE, ""), True


async def current_agent(
    request: Request,
    _bearer_token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _csrf_header: Annotated[str | None, Depends(_csrf)],
) -> Agent:
    runtime = runtime_of(request)
    token, from_cookie = session_of(request)
    if not token:
        raise _unauthorised("log in first: POST /api/auth/login")
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token(runtime.secret_key, token)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    agent = remembered_agent(token, runtime.agent_sessions)
    if agent is None:
        async with runtime.db.lookup() as session:
            agent = await agent_of(
                session, token, now=runtime.clock.now(), cache=runtime.agent_sessions
            )
    if agent is None:
        raise _unauthorised("session ended or expired; log in again")
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
Admin = Annotated[Agent, Depends(requires(Role.ADMIN))]
