"""The SLA reaction: timers start, pause, resume, end and are recomputed from ticket events.

It runs as one reaction of the durable event log (`helpdesk.runtime.event_table`), so each
event changes the timers once, in the transaction that moves the reaction's checkpoint, and
records `SlaTimersChanged` so that every process's scheduler looks again at when to wake.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.clock import Clock
from helpdesk.events.types import (
    Event,
    MessageReceived,
    ReplyQueued,
    SlaTimersChanged,
    TicketChanged,
    TicketCreated,
    TicketReopened,
)
from helpdesk.sla import follow_up, timers
from helpdesk.sla.escalation import repeat_complaint
from helpdesk.sla.models import ACTIVE, SlaTimer, TimerStatus
from helpdesk.sla.policies import Match, Metric, PolicyBook
from helpdesk.sla.tiers import customer_tier, customer_tiers
from helpdesk.staff.models import Team
from helpdesk.storage import rows
from helpdesk.storage.among import among
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import AuthorType, Message, Ticket, TicketKind, TicketStatus

# Ticket fields whose change may move a ticket to another policy or calendar.
_MATCHED_ON = frozenset({"kind", "priority", "team_id"})
# A new or reopened ticket in these states is owed a response and a resolution.
_OWED = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class SlaService:
    def __init__(self, clock: Clock, book: PolicyBook) -> None:
        self._clock = clock
        self.book = book
        self._repeat_window = timedelta(days=book.settings.repeat_complaint_days)
        self._follow_up_after = timedelta(days=book.settings.complaint_follow_up_days)
        hours = book.settings.reassure_after_hours
        # "We have not forgotten you" after this much business time waiting, if enabled.
        self.reassure = timedelta(hours=hours) if hours else None

    def wanted(self, event: Event) -> bool:
        if isinstance(event, TicketCreated):
            # Mail from a machine (auto-replies, lists) promises no one an answer.
            return event.automatic is None
        if isinstance(event, MessageReceived):
            return not event.opened_ticket and event.automatic is None
        if isinstance(event, TicketChanged):
            return "status" in event.changes or bool(_MATCHED_ON & event.changes.keys())
        if isinstance(event, ReplyQueued):
            # Only a person's reply answers the customer (older events name no author: read).
            return event.author_type in ("", AuthorType.AGENT.value)
        return isinstance(event, TicketReopened)

    async def handle(self, session: AsyncSession, event: Event) -> None:
        now = self._clock.now()
        ticket = await session.get(Ticket, getattr(event, "ticket_id", 0))
        if ticket is None:
            return
        changed = False
        if isinstance(event, TicketCreated):
            changed = await self._open(session, ticket, now, Metric.FIRST_RESPONSE)
        elif isinstance(event, TicketReopened):
            changed = await self._open(session, ticket, now, Metric.NEXT_RESPONSE)
        elif isinstance(event, MessageReceived):
            changed = await self._customer_wrote(session, ticket, now)
        elif isinstance(event, ReplyQueued):
            message = await session.get(Message, event.message_id)
            # Only a person's reply answers the customer: not the bot, not the system.
            if message is not None and message.author_type == AuthorType.AGENT:
                changed = await self._agent_replied(session, ticket, now)
        elif isinstance(event, TicketChanged):
            changed = await self._ticket_changed(session, ticket, event.changes, now)
        if changed:
            record(session, SlaTimersChanged(ticket.id))

    async def handle_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """`handle` for a round of events, in their order. The round's tickets are read at once
        (each `session.get` then finds its ticket in the session), and a run of new tickets
        (most of a busy mailbox's round) takes a few statements for all, not several each."""
        ids = sorted({getattr(event, "ticket_id", 0) for event in events})
        loaded = await session.scalars(select(Ticket).where(among(session, Ticket.id, ids)))
        tickets = {ticket.id: ticket for ticket in loaded}
        run: list[Event] = []
        for event in events:
            if run and type(event) is not type(run[0]):
                await self._run(session, run, tickets)
                run = []
            run.append(event)
        if run:
            await self._run(session, run, tickets)

    async def _run(
        self, session: AsyncSession, run: list[Event], tickets: dict[int, Ticket]
    ) -> None:
        """Consecutive events of one type: new tickets and replies set-based, others each."""
        if isinstance(run[0], TicketCreated):
            await self._created(session, [e for e in run if isinstance(e, TicketCreated)], tickets)
        elif isinstance(run[0], ReplyQueued):
            await self._replied(session, [e for e in run if isinstance(e, ReplyQueued)])
        else:
            for event in run:
                await self.handle(session, event)

    async def _replied(self, session: AsyncSession, events: list[ReplyQueued]) -> None:
        """`_agent_replied` for many replies at once: a person's reply meets the response timers
        of its ticket (the bot's and the system's do not)."""
        now = self._clock.now()
        wrote = await session.execute(
            select(Message.id, Message.author_type).where(
                among(session, Message.id, sorted({e.message_id for e in events}))
            )
        )
        authors = {row.id: row.author_type for row in wrote}
        answered: list[int] = []
        for event in events:
            ticket = await session.get(Ticket, event.ticket_id)
            if ticket is not None and authors.get(event.message_id) == AuthorType.AGENT:
                answered.append(ticket.id)
        if not answered:
            return
        running = await session.scalars(
            select(SlaTimer)
            .where(among(session, SlaTimer.ticket_id, sorted(set(answered))))
            .where(SlaTimer.status.in_(ACTIVE))
            .order_by(SlaTimer.id)
            .with_for_update()
        )
        timers_of: dict[int, list[SlaTimer]] = {}
        for timer in running:
            timers_of.setdefault(timer.ticket_id, []).append(timer)
        responses = (Metric.FIRST_RESPONSE.value, Metric.NEXT_RESPONSE.value)
        for ticket_id in answered:
            changed = False
            for timer in timers_of.get(ticket_id, []):
                # A second reply of the round finds the timer already met, as a new read would.
                if timer.status in ACTIVE and timer.metric in responses:
                    timers.end(timer, self.book.calendar(timer.calendar), now, TimerStatus.MET)
                    changed = True
            if changed:
                record(session, SlaTimersChanged(ticket_id))

    async def _created(
        self, session: AsyncSession, events: list[TicketCreated], tickets: dict[int, Ticket]
    ) -> None:
        """`_open` (first response and resolution owed) for many new tickets at once; `tickets`
        holds the round's tickets, read as it began."""
        now = self._clock.now()
        owed: list[Ticket] = []
        seen: set[int] = set()
        for event in events:
            ticket = tickets.get(event.ticket_id)
            if ticket is not None and ticket.id not in seen and ticket.status in _OWED:
                seen.add(ticket.id)
                owed.append(ticket)
        if not owed:
            return
        tiers = await customer_tiers(session, {t.customer_id for t in owed})
        team_ids = sorted({t.team_id for t in owed if t.team_id is not None})
        teams = {
            team.id: team.name
            for team in (
                await session.scalars(select(Team).where(Team.id.in_(team_ids))) if team_ids else []
            )
        }
        running = await session.scalars(
            select(SlaTimer)
            .where(among(session, SlaTimer.ticket_id, [t.id for t in owed]))
            .where(SlaTimer.status.in_(ACTIVE))
            .order_by(SlaTimer.id)
            .with_for_update()
        )
        active: dict[int, set[str]] = {}
        for timer in running:
            active.setdefault(timer.ticket_id, set()).add(timer.metric)
        # Timers started now under one policy and calendar are alike but for their ticket: the
        # business-time arithmetic is done once per round, and the others are copies of its
        # row (a mapped object each would cost more to build than the INSERT of its row).
        started_like: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        new_timers: list[dict[str, Any]] = []
        for ticket in owed:
            match = self.book.match(
                kind=ticket.kind.value,
                priority=ticket.priority.value,
                tier=tiers[ticket.customer_id],
                team=teams.get(ticket.team_id) if ticket.team_id is not None else None,
            )
            started = active.setdefault(ticket.id, set())
            for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
                if metric.value in started:
                    continue
                started.add(metric.value)
                key = (match.policy.name, match.calendar.name, match.fingerprint, metric.value)
                like = started_like.get(key)
                if like is None:
                    like = started_like[key] = rows.values_of(
                        timers.start(ticket.id, metric, match, now, self.reassure)
                    )
                new_timers.append({**like, "ticket_id": ticket.id})
            record(session, SlaTimersChanged(ticket.id))
        # Inserted directly rather than flushed object by object (`storage/rows.py`): nothing
        # in this transaction reads them back as objects.
        await rows.insert_values(session, SlaTimer, new_timers)

    async def match(self, session: AsyncSession, ticket: Ticket) -> Match:
        tier = await customer_tier(session, ticket.customer_id)
        team = await session.get(Team, ticket.team_id) if ticket.team_id is not None else None
        return self.book.match(
            kind=ticket.kind.value,
            priority=ticket.priority.value,
            tier=tier,
            team=team.name if team is not None else None,
        )

    async def active_timers(self, session: AsyncSession, ticket_id: int) -> list[SlaTimer]:
        query = select(SlaTimer).where(SlaTimer.ticket_id == ticket_id, SlaTimer.status.in_(ACTIVE))
        return list(await session.scalars(query.order_by(SlaTimer.id).with_for_update()))

    async def _open(
        self, session: AsyncSession, ticket: Ticket, now: datetime, response: Metric
    ) -> bool:
        """A new (or reopened) ticket: a response and the resolution are owed."""
        if ticket.status not in _OWED:
            return False
        match = await self.match(session, ticket)
        active = {t.metric for t in await self.active_timers(session, ticket.id)}
        for metric in (response, Metric.RESOLUTION):
            if metric.value not in active:
                session.add(timers.start(ticket.id, metric, match, now, self.reassure))
        # Why this policy: the timers carry its and the calendar's names (GET /api/tickets/N/sla);
        # the audit trail keeps to changes of the ticket and to escalations.
        return True

    async def _customer_wrote(self, session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
        """The customer wrote: paused timers run again, and an answer is owed again."""
        active = await self.active_timers(session, ticket.id)
        if not active and ticket.first_response_at is None:
            return False  # a ticket from before the SLA, or one resolved long ago
        match = await self.match(session, ticket)
        for timer in active:
            timers.resume(timer, self._match_for(timer, match), now, self.reassure)
        responses = {Metric.FIRST_RESPONSE.value, Metric.NEXT_RESPONSE.value}
        if not any(t.metric in responses for t in active) and ticket.first_response_at:
            session.add(timers.start(ticket.id, Metric.NEXT_RESPONSE, match, now, self.reassure))
        return True

    async def _agent_replied(self, session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
        changed = False
        for timer in await self.active_timers(session, ticket.id):
            if timer.metric in (Metric.FIRST_RESPONSE.value, Metric.NEXT_RESPONSE.value):
                calendar = self.book.calendar(timer.calendar)
                timers.end(timer, calendar, now, TimerStatus.MET)
                changed = True
        return changed

    async def _ticket_changed(
        self, session: AsyncSession, ticket: Ticket, changes: dict[str, object], now: datetime
    ) -> bool:
        active = await self.active_timers(session, ticket.id)
        if not active:
            return False
        status = changes.get("status")
        if status in (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value):
            for timer in active:
                calendar = self.book.calendar(timer.calendar)
                ended = (
                    TimerStatus.MET
                    if timer.metric == Metric.RESOLUTION.value
                    else TimerStatus.STOPPED
                )
                timers.end(timer, calendar, now, ended)
            if ticket.kind == TicketKind.COMPLAINT and self._follow_up_after:
                await follow_up.schedule(session, ticket, self._follow_up_after, now)
            return True
        if changes.get("kind") == TicketKind.COMPLAINT.value:
            await repeat_complaint(session, ticket, self._repeat_window, now)
        if _MATCHED_ON & changes.keys():
            match = await self.match(session, ticket)
            for timer in active:
                if timer.fingerprint != match.fingerprint or timer.policy != match.policy.name:
                    old = self.book.calendars.get(timer.calendar) or match.calendar
                    timers.recompute(timer, match, old, now, self.reassure)
        if status == TicketStatus.PENDING.value:
            for timer in active:
                timers.pause(timer, self.book.calendar(timer.calendar), now)
        elif status in (TicketStatus.OPEN.value, TicketStatus.NEW.value):
            match = await self.match(session, ticket)
            for timer in active:
                timers.resume(timer, self._match_for(timer, match), now, self.reassure)
        return True

    def _match_for(self, timer: SlaTimer, current: Match) -> Match:
        """The timer's own policy and calendar (it keeps them until recomputed)."""
        return self.book.by_name(timer.policy, timer.calendar) or current
