"""Agents and teams: who works here, their role, teams, skills and capacity, each team's
routing strategy. Changes go through the API (`/api/admin/agents…`, `/api/agents/{id}/routing`,
`/api/teams/{id}/routing`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from helpdesk.routing.models import RoutingProfile, Strategy, TeamRouting
from helpdesk.staff.models import Agent, Role, Team
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.admin.access import is_admin
from helpdesk.web.workspace.pages import PageAgent, overseers_only, page

router = APIRouter(include_in_schema=False)


@router.get("/workspace/admin/agents", response_class=HTMLResponse)
async def agents_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        agents = list(
            await session.scalars(
                select(Agent).options(selectinload(Agent.teams)).order_by(Agent.name, Agent.id)
            )
        )
        profiles = {p.agent_id: p for p in await session.scalars(select(RoutingProfile))}
        teams = list(
            await session.scalars(
                select(Team).options(selectinload(Team.members)).order_by(Team.name)
            )
        )
        strategies = {
            row.team_id: row.strategy for row in await session.scalars(select(TeamRouting))
        }
    return page(
        request,
        agent,
        "admin/agents.html",
        is_admin=is_admin(agent),
        agents=agents,
        profiles=profiles,
        default_capacity=runtime.settings.routing.default_capacity,
        teams=teams,
        strategies=strategies,
        roles=list(Role),
        strategy_names=list(Strategy),
    )
