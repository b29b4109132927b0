"""Reads and the one write people make on escalations: list them, acknowledge one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import EscalationAcknowledged
from helpdesk.sla.models import Escalation, SlaTimer
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType


class EscalationError(Exception):
    """The escalation cannot be acknowledged; the message says why."""


async def escalations(
    session: AsyncSession,
    agent: Agent,
    *,
    open_only: bool,
    ticket_id: int | None = None,
    limit: int = 100,
) -> Sequence[Escalation]:
    """Newest first. Supervisors and admins see all; an agent sees those addressed to them."""
    query = select(Escalation).order_by(Escalation.id.desc()).limit(limit)
    if open_only:
        query = query.where(Escalation.acknowledged_at.is_(None))
    if ticket_id is not None:
        query = query.where(Escalation.ticket_id == ticket_id)
    if sees_all(agent):
        return list(await session.scalars(query))
    # Recipients are a JSON list, which SQLite and PostgreSQL filter differently: look through
    # the newest few hundred and keep the agent's own.
    rows = await session.scalars(query.limit(limit * 10))
    return [row for row in rows if agent.id in row.recipients][:limit]


async def timers(session: AsyncSession, ticket_id: int) -> Sequence[SlaTimer]:
    query = select(SlaTimer).where(SlaTimer.ticket_id == ticket_id).order_by(SlaTimer.id)
    return list(await session.scalars(query))


async def acknowledge(
    session: AsyncSession, escalation_id: int, agent: Agent, *, now: datetime
) -> Escalation:
    escalation = await session.get(Escalation, escalation_id, with_for_update=True)
    if escalation is None:
        raise LookupError(f"no escalation {escalation_id}")
    if escalation.acknowledged_at is not None:
        raise EscalationError(
            f"escalation {escalation_id} was already acknowledged at "
            f"{escalation.acknowledged_at.isoformat()}"
        )
    escalation.acknowledged_at = now
    escalation.acknowledged_by = agent.id
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent.id,
        ticket_id=escalation.ticket_id,
        action="sla.acknowledged",
        escalation_id=escalation.id,
        level=escalation.level,
    )
    record(session, EscalationAcknowledged(escalation.ticket_id, escalation.id, agent.id))
    return escalation
