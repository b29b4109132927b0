"""The queue page: mine, team, unassigned, all; filters; the soonest due first; paginated. The
page asks for its list again (`/workspace/queue/list`) when the live feed says a ticket changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from helpdesk.staff.models import Agent, Team
from helpdesk.tickets.models import Priority, TicketStatus
from helpdesk.tickets.worklist import VIEWS, View, WorkFilter, due_soon, worklist
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.pages import PageAgent, page

router = APIRouter(include_in_schema=False)
CHANNELS = ("webchat", "email", "telegram", "phone", "visit")


def _filters(
    view: View = "all",
    status: Annotated[TicketStatus | None, Query()] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    priority: Annotated[Priority | None, Query()] = None,
    complaint: bool = False,
    due: bool = False,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> dict[str, Any]:
    return {
        "view": view,
        "status": status,
        "channel": channel or None,
        "priority": priority,
        "complaint": complaint,
        "due": due,
        "page": page_number,
    }


async def _list_context(request: Request, agent: Agent, chosen: dict[str, Any]) -> dict[str, Any]:
    runtime = runtime_of(request)
    settings = runtime.settings.workspace
    soon = timedelta(minutes=settings.due_soon_minutes)
    filters = WorkFilter(
        view=chosen["view"],
        statuses=(chosen["status"],) if chosen["status"] else (),
        channel=chosen["channel"],
        priority=chosen["priority"],
        complaints_only=chosen["complaint"],
        due_within=soon if chosen["due"] else None,
        page=chosen["page"],
        per_page=settings.queue_page_size,
    )
    now = runtime.clock.now()
    async with runtime.db.read() as session:
        found = await worklist(session, agent, filters, now=now)
        agents = {i: n for i, n in await session.execute(select(Agent.id, Agent.name))}
        teams = {i: n for i, n in await session.execute(select(Team.id, Team.name))}
    return {
        "found": found,
        "chosen": chosen,
        "views": VIEWS,
        "pages": found.pages(settings.queue_page_size),
        "agent_names": agents,
        "team_names": teams,
        "now": now,
        "soon": {row.number for row in found.rows if due_soon(row.due_at, now, soon)},
        "query": _query_string,
    }


def _query_string(chosen: dict[str, Any], **changes: Any) -> str:
    """The queue's URL query for these choices with some changed (a tab, a page)."""
    merged = {**chosen, **changes}
    parts = []
    for key, value in merged.items():
        if value in (None, False, "") or (key == "page" and value == 1):
            continue
        parts.append(f"{key}={'1' if value is True else value}")
    return "?" + "&".join(parts) if parts else "?"


@router.get("/app")
async def app_alias() -> Response:
    return RedirectResponse("/workspace")


@router.get("/workspace", response_class=HTMLResponse)
async def queue_page(request: Request, agent: PageAgent) -> Response:
    chosen = _filters(**_params(request))
    context = await _list_context(request, agent, chosen)
    return page(
        request,
        agent,
        "queue.html",
        statuses=list(TicketStatus),
        priorities=list(Priority),
        channels=CHANNELS,
        **context,
    )


@router.get("/workspace/queue/list", response_class=HTMLResponse)
async def queue_list(request: Request, agent: PageAgent) -> Response:
    """Only the list and the tabs' counts: what the page swaps in on a live update."""
    chosen = _filters(**_params(request))
    context = await _list_context(request, agent, chosen)
    return page(request, agent, "queue_list.html", **context)


def _params(request: Request) -> dict[str, Any]:
    """Query parameters checked by hand: a bad value falls back to the default instead of an
    error page (a stale bookmark still opens the queue)."""
    q = request.query_params
    out: dict[str, Any] = {}
    if q.get("view") in VIEWS:
        out["view"] = q["view"]
    if q.get("status") in {s.value for s in TicketStatus}:
        out["status"] = TicketStatus(q["status"])
    if q.get("priority") in {p.value for p in Priority}:
        out["priority"] = Priority(q["priority"])
    if (channel := q.get("channel", "")) and len(channel) <= 32:
        out["channel"] = channel
    out["complaint"] = q.get("complaint") == "1"
    out["due"] = q.get("due") == "1"
    page_text = q.get("page", "1")
    out["page_number"] = int(page_text) if page_text.isdigit() and 0 < len(page_text) < 7 else 1
    return out
