"""Routing rules (the configured ones, read-only, then those kept in the database, added and
removed here through `/api/routing/rules`) and the SLA policies and calendars in force (from
the configuration file: shown, changed there)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from helpdesk.routing.rules import CONDITIONS
from helpdesk.staff.models import Team
from helpdesk.web import routing_api, sla_api
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.admin.access import is_admin
from helpdesk.web.workspace.pages import PageAgent, overseers_only, page

router = APIRouter(include_in_schema=False)


@router.get("/workspace/admin/routing", response_class=HTMLResponse)
async def rules_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    async with runtime_of(request).db.read() as session:
        teams = dict((await session.execute(select(Team.id, Team.name))).tuples().all())
    return page(
        request,
        agent,
        "admin/routing.html",
        is_admin=is_admin(agent),
        rules=await routing_api.list_rules(agent, request),
        teams=teams,
        conditions=sorted(CONDITIONS),
    )


@router.get("/workspace/admin/sla", response_class=HTMLResponse)
async def sla_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    return page(
        request,
        agent,
        "admin/sla.html",
        is_admin=is_admin(agent),
        config=await sla_api.policies(request, agent),
    )
