"""Manual work: supervisors assign and reassign; agents take unassigned tickets of their teams
and hand tickets back. Each writes its reason like an automatic decision does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import TicketAssigned
from helpdesk.routing.models import HeldTicket, RoutingDecision, RoutingProfile
from helpdesk.routing.profiles import exact_loads, profile_of
from helpdesk.routing.settings import RoutingSettings
from helpdesk.staff.models import Agent
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import OPEN_STATUSES, AuthorType, Ticket


class AssignmentError(Exception):
    """The assignment is not allowed; the message says why."""


async def assign(
    session: AsyncSession,
    actor: Agent,
    ticket: Ticket,
    agent_id: int,
    *,
    settings: RoutingSettings,
    now: datetime,
    note: str = "",
) -> None:
    """A supervisor gives the ticket to an agent (even one at capacity: a person decided)."""
    if ticket.status not in OPEN_STATUSES:
        raise AssignmentError(f"ticket #{ticket.id} is {ticket.status.value}; reopen it first")
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise AssignmentError(f"there is no active agent with id {agent_id}")
    previous = ticket.assignee_id
    if previous == agent_id:
        return
    profile = await _locked_profile(session, agent_id, settings, now)
    load = await _load(session, profile, settings)
    over = " (over their capacity)" if load + 1 > profile.capacity else ""
    reason = f"Assigned by {actor.name} to {agent.name}{over}."
    if previous is not None:
        reason = f"Reassigned by {actor.name} from agent {previous} to {agent.name}{over}."
    if note.strip():
        reason += f" Note: {note.strip()[:500]}"
    await _give(session, ticket, agent, profile, "manual", reason, actor, now, "supervisor")
    profile.load = await _load(session, profile, settings)
    await _recount(session, previous, settings)


async def take(
    session: AsyncSession, agent: Agent, ticket: Ticket, *, settings: RoutingSettings, now: datetime
) -> None:
    """An agent takes an unassigned ticket of one of their teams (or of no team)."""
    if ticket.status not in OPEN_STATUSES:
        raise AssignmentError(f"ticket #{ticket.id} is {ticket.status.value}")
    if ticket.assignee_id is not None:
        raise AssignmentError(f"ticket #{ticket.id} is assigned already")
    if ticket.team_id is not None and ticket.team_id not in {t.id for t in agent.teams}:
        raise AssignmentError(f"ticket #{ticket.id} belongs to a team you are not in")
    profile = await _locked_profile(session, agent.id, settings, now)
    load = await _load(session, profile, settings)
    weight = profile.channel_weights.get(
        ticket.channel, settings.channel_weights.get(ticket.channel, 1)
    )
    if load + weight > profile.capacity:
        raise AssignmentError(f"you are at capacity ({load}/{profile.capacity})")
    reason = f"Taken by {agent.name} from the unassigned tickets."
    await _give(session, ticket, agent, profile, "taken", reason, agent, now, "taken")
    profile.load = await _load(session, profile, settings)


async def _give(
    session: AsyncSession,
    ticket: Ticket,
    agent: Agent,
    profile: RoutingProfile,
    outcome: str,
    reason: str,
    actor: Agent,
    now: datetime,
    by: str,
) -> None:
    previous = ticket.assignee_id
    ticket.assignee_id = agent.id
    ticket.updated_at = now
    profile.last_assigned_at = now
    await session.execute(delete(HeldTicket).where(HeldTicket.ticket_id == ticket.id))
    session.add(
        RoutingDecision(
            ticket_id=ticket.id,
            at=now,
            outcome=outcome,
            agent_id=agent.id,
            actor_id=actor.id,
            trigger=by,
            reason=reason,
        )
    )
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=actor.id,
        ticket_id=ticket.id,
        action=f"ticket.{outcome}",
        agent_id=agent.id,
        reason=reason,
    )
    record(session, TicketAssigned(ticket.id, agent.id, previous, by))
    await session.flush()


async def _locked_profile(
    session: AsyncSession, agent_id: int, settings: RoutingSettings, now: datetime
) -> RoutingProfile:
    await profile_of(session, agent_id, settings, now)
    profile = await session.get(RoutingProfile, agent_id, with_for_update=True)
    assert profile is not None
    return profile


async def _load(session: AsyncSession, profile: RoutingProfile, settings: RoutingSettings) -> int:
    loads = await exact_loads(
        session,
        [profile.agent_id],
        {profile.agent_id: profile.channel_weights},
        settings.channel_weights,
    )
    return loads[profile.agent_id]


async def _recount(session: AsyncSession, agent_id: int | None, settings: RoutingSettings) -> None:
    if agent_id is None:
        return
    profile = await session.get(RoutingProfile, agent_id)
    if profile is not None:
        await session.flush()
        profile.load = await _load(session, profile, settings)
