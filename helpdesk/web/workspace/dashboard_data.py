"""What the supervisor dashboard shows, read in one session: open escalations, the period's
reports per team and per agent (`helpdesk/reports/`), each agent's load against capacity, and
the holding queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports import catalog
from helpdesk.reports.query import GroupBy, Period, ReportQuery, Scope
from helpdesk.routing.models import HeldTicket, RoutingProfile
from helpdesk.sla import queries as sla_queries
from helpdesk.sla.models import Escalation
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import Ticket

# The grouped reports the dashboard draws; the others are in the API.
PER_GROUP = ("sla-breaches", "first-response-time", "satisfaction", "recommend-score", "bot")
HELD_SHOWN = 20


@dataclass(frozen=True, slots=True)
class OpenEscalation:
    escalation: Escalation
    subject: str


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: int
    name: str
    presence: str
    load: int
    capacity: int

    @property
    def share(self) -> float:
        return self.load / self.capacity if self.capacity else 0.0


@dataclass(slots=True)
class Dashboard:
    period: Period
    escalations: list[OpenEscalation] = field(default_factory=list)
    by_team: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_agent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    desk: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    loads: list[AgentLoad] = field(default_factory=list)
    held: list[HeldTicket] = field(default_factory=list)
    held_total: int = 0


async def open_escalations(
    session: AsyncSession, agent: Agent, limit: int = 50
) -> list[OpenEscalation]:
    rows = await sla_queries.escalations(session, agent, open_only=True, limit=limit)
    ids = {row.ticket_id for row in rows}
    subjects: dict[int, str] = {}
    if ids:
        found = await session.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(ids)))
        subjects = dict(found.tuples().all())
    return [OpenEscalation(row, subjects.get(row.ticket_id, "")) for row in rows]


async def agent_loads(session: AsyncSession) -> list[AgentLoad]:
    rows = await session.execute(
        select(
            Agent.id,
            Agent.name,
            RoutingProfile.presence,
            RoutingProfile.load,
            RoutingProfile.capacity,
        )
        .join(RoutingProfile, RoutingProfile.agent_id == Agent.id)
        .where(Agent.active)
        .order_by(Agent.name, Agent.id)
    )
    return [AgentLoad(row.id, row.name, row.presence.value, row.load, row.capacity) for row in rows]


async def read_dashboard(session: AsyncSession, agent: Agent, period: Period) -> Dashboard:
    board = Dashboard(period=period)
    board.escalations = await open_escalations(session, agent)
    scope = Scope.of(agent)
    for group_by, target in ((GroupBy.TEAM, board.by_team), (GroupBy.AGENT, board.by_agent)):
        query = ReportQuery(period, group_by, scope=scope)
        for name in PER_GROUP:
            target[name] = (await catalog.run(session, name, query)).rows
    whole = ReportQuery(period, GroupBy.NONE, scope=scope)
    board.desk["complaints"] = (await catalog.run(session, "complaints", whole)).rows
    for name in ("satisfaction", "recommend-score", "bot", "sla-breaches", "first-response-time"):
        board.desk[name] = (await catalog.run(session, name, whole)).rows
    board.loads = await agent_loads(session)
    board.held_total = await session.scalar(select(func.count()).select_from(HeldTicket)) or 0
    board.held = list(
        await session.scalars(
            select(HeldTicket).order_by(HeldTicket.urgency, HeldTicket.held_since).limit(HELD_SHOWN)
        )
    )
    return board


def since(moment: datetime, now: datetime) -> str:
    """'12 min', '3 h', '2 d': how long something has waited."""
    minutes = max(int((now - moment).total_seconds() // 60), 0)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
