"""What every workspace page shares: who is signed in (the session cookie), the CSRF check on
forms, and rendering with the layout's context."""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.staff.sessions import agent_of, remembered_agent
from helpdesk.web.auth import CSRF_HEADER, SESSION_COOKIE, csrf_token
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.templating import render

CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in_url(next_path: str) -> str:
    return f"/signin?next={quote(safe_next(next_path), safe='')}"


def safe_next(path: str | None) -> str:
    """Only a path on this site is followed after sign-in (never `//evil` or a full URL)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/workspace"
    return path


async def page_agent(request: Request) -> Agent:
    """The signed-in agent of a page request; SignInRequired without a live session."""
    runtime = runtime_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(target)
    agent = remembered_agent(token, runtime.agent_sessions)
    if agent is None:
        async with runtime.db.read() as session:
            agent = await agent_of(
                session, token, now=runtime.clock.now(), cache=runtime.agent_sessions
            )
    if agent is None:
        raise SignInRequired(target)
    return agent


PageAgent = Annotated[Agent, Depends(page_agent)]


def page_csrf(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE, "")
    return csrf_token(runtime_of(request).secret_key, token) if token else ""


async def check_csrf(request: Request) -> dict[str, Any]:
    """The posted form, refused with 403 unless it carries this session's CSRF token (as the
    `csrf_token` field or the X-CSRF-Token header). Returns the form's fields."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, ""))
    expected = page_csrf(request)
    if not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong")
    return dict(form.multi_items())


def page(request: Request, agent: Agent | None, name: str, **context: Any) -> HTMLResponse:
    """A page from `templates/workspace/`, with what the layout needs."""
    runtime = runtime_of(request)
    settings = runtime.settings.workspace
    html = render(
        runtime.templates,
        f"workspace/{name}",
        agent=agent,
        sees_all=agent is not None and sees_all(agent),
        csrf=page_csrf(request) if agent is not None else "",
        heartbeat_seconds=settings.heartbeat_seconds,
        away_after_idle_seconds=settings.away_after_idle_seconds,
        **context,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def overseers_only(request: Request, agent: Agent) -> HTMLResponse | None:
    """The 403 page for an agent who is neither a supervisor nor an admin (the dashboard and
    the admin pages are theirs), else None."""
    if sees_all(agent):
        return None
    refused = page(request, agent, "dashboard_refused.html")
    refused.status_code = status.HTTP_403_FORBIDDEN
    return refused
