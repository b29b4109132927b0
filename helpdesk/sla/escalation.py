"""The ladder's steps as they fire: who is told, what changes on the ticket, and the record.

Every escalation is a row with its reason in words a supervisor can read, an `EscalationRaised`
event for the live feed, and an audit entry; its notices wait for business hours unless the
policy says otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import EscalationRaised, TicketChanged
from helpdesk.sla.calendar import BusinessCalendar
from helpdesk.sla.models import Escalation, SlaTimer
from helpdesk.sla.policies import Level, Match, Metric
from helpdesk.staff.models import Agent, Role, team_members
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType, Priority, Ticket, TicketKind

SUPERVISING = (Role.SUPERVISOR, Role.ADMIN)
_RAISED = {
    Priority.LOW: Priority.HIGH,
    Priority.NORMAL: Priority.HIGH,
    Priority.HIGH: Priority.URGENT,
}
_WORDS = {
    Metric.FIRST_RESPONSE: "first response",
    Metric.NEXT_RESPONSE: "next response",
    Metric.RESOLUTION: "resolution",
}


class Recipients:
    """Who supervises which team, looked up once per batch of firing timers."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._known: dict[int | None, list[int]] = {}

    async def supervisors(self, team_id: int | None) -> list[int]:
        if team_id not in self._known:
            self._known[team_id] = await supervisors(self._session, team_id)
        return self._known[team_id]


async def supervisors(session: AsyncSession, team_id: int | None) -> list[int]:
    """The team's supervisors; every supervisor when the team has none (or there is no team)."""
    query = select(Agent.id).where(Agent.active, Agent.role.in_(SUPERVISING))
    if team_id is not None:
        in_team = list(
            await session.scalars(
                query.join(team_members, team_members.c.agent_id == Agent.id).where(
                    team_members.c.team_id == team_id
                )
            )
        )
        if in_team:
            return sorted(in_team)
    return sorted(await session.scalars(query))


def notify_after(match: Match | None, calendar: BusinessCalendar, now: datetime) -> datetime:
    if match is not None and match.policy.settings.notify_outside_hours:
        return now
    return calendar.next_open(now)


async def fire_step(
    session: AsyncSession,
    timer: SlaTimer,
    ticket: Ticket,
    match: Match,
    now: datetime,
    recipients_of: Recipients,
) -> Escalation:
    """Raise the timer's next step (`timer.step` is the index of the step to fire). The row is
    added unflushed: call `announce` once the batch is flushed."""
    level = (Level.WARNING, Level.BREACH, Level.FURTHER)[timer.step]
    what = _WORDS[Metric(timer.metric)]
    target_hours = timer.target_seconds / 3600
    changes: dict[str, object] = {}
    if level == Level.WARNING:
        share = round(match.policy.settings.warning_share * 100)
        reason = (
            f"{share}% of the {what} target ({target_hours:g} business hours, "
            f"policy {match.policy.name!r}) is used"
        )
        recipients = [ticket.assignee_id] if ticket.assignee_id else []
        recipients = recipients or await recipients_of.supervisors(ticket.team_id)
    elif level == Level.BREACH:
        reason = (
            f"the {what} target ({target_hours:g} business hours, policy "
            f"{match.policy.name!r}) is breached"
        )
        recipients = await recipients_of.supervisors(ticket.team_id)
        raised = _RAISED.get(ticket.priority)
        if raised is not None:
            changes["priority"] = raised.value
            ticket.priority = raised
    else:
        after = match.policy.settings.further_after_hours
        reason = (
            f"the {what} target (policy {match.policy.name!r}) was breached "
            f"{after:g} business hours ago and the ticket is still waiting"
        )
        recipients = await recipients_of.supervisors(None)
        if match.policy.settings.reassign_on_further and ticket.assignee_id is not None:
            changes["assignee_id"] = None
            ticket.assignee_id = None
            reason += "; unassigned so that a supervisor gives it to someone free"
    return raise_escalation(
        session,
        ticket,
        level,
        reason,
        recipients,
        now=now,
        notify_at=notify_after(match, match.calendar, now),
        timer_id=timer.id,
        changes=changes,
    )


def raise_escalation(
    session: AsyncSession,
    ticket: Ticket,
    level: Level,
    reason: str,
    recipients: list[int],
    *,
    now: datetime,
    notify_at: datetime,
    timer_id: int | None = None,
    changes: dict[str, object] | None = None,
) -> Escalation:
    escalation = Escalation(
        ticket_id=ticket.id,
        timer_id=timer_id,
        level=level.value,
        reason=reason,
        recipients=recipients,
        raised_at=now,
        notify_after=notify_at,
    )
    session.add(escalation)
    if changes:
        ticket.updated_at = now
        record(session, TicketChanged(ticket.id, dict(changes)))
    audit.automatic(
        session,
        AuthorType.SYSTEM,
        at=now,
        ticket_id=ticket.id,
        action=f"sla.{level.value}",
        reason=reason,
        recipients=recipients,
        **({"changes": changes} if changes else {}),
    )
    return escalation


async def announce(session: AsyncSession, escalations: list[Escalation]) -> None:
    """Flush the new escalations (one round trip for a batch) and record their events."""
    await session.flush()
    for e in escalations:
        record(session, EscalationRaised(e.ticket_id, e.id, e.level, e.reason, e.recipients))


async def repeat_complaint(
    session: AsyncSession, ticket: Ticket, window: timedelta, now: datetime
) -> Escalation | None:
    """A second complaint from the same customer within `window` goes to the supervisors at
    once, whatever the hour: a repeated complaint is worse than the first."""
    earlier = list(
        await session.scalars(
            select(Ticket.id)
            .where(
                Ticket.customer_id == ticket.customer_id,
                Ticket.kind == TicketKind.COMPLAINT,
                Ticket.id != ticket.id,
                Ticket.created_at >= now - window,
            )
            .order_by(Ticket.id)
        )
    )
    if not earlier:
        return None
    numbers = ", ".join(f"#{n}" for n in earlier)
    days = window.total_seconds() / 86400
    reason = f"the customer complained again within {days:g} days (earlier: {numbers})"
    escalation = raise_escalation(
        session,
        ticket,
        Level.REPEAT_COMPLAINT,
        reason,
        await supervisors(session, ticket.team_id),
        now=now,
        notify_at=now,
    )
    await announce(session, [escalation])
    return escalation
