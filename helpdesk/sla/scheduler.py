"""The SLA scheduler: sleeps until the next due moment, fires what is due, sleeps again.

No periodic scan: the next moment is one index lookup (`min(next_fire_at)`), and the sleep is cut
short when timers change anywhere (the `SlaTimersChanged` broadcast reaches every process). At
start it first catches up on everything that fell due while no process ran. Due timers are
claimed in batches, `FOR UPDATE SKIP LOCKED` on PostgreSQL, and each step is fired and moved on in
the same transaction, so several processes fire each escalation exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask, wait_for_event
from helpdesk.common.clock import Clock
from helpdesk.events.types import SlaTimersChanged
from helpdesk.sla import follow_up, notices, reassure, timers
from helpdesk.sla.escalation import Recipients, announce, fire_step
from helpdesk.sla.models import ACTIVE, SlaTimer, TimerStatus
from helpdesk.sla.notices import StaffNotifier
from helpdesk.sla.policies import LADDER, Level, Match
from helpdesk.sla.service import SlaService
from helpdesk.sla.settings import SlaSettings
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import Ticket

log = logging.getLogger(__name__)
RECOMPUTE_BATCH = 500
# After an unexpected error the loop waits this long before it looks again.
ERROR_PAUSE_SECONDS = 1.0


class SlaScheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        service: SlaService,
        settings: SlaSettings,
        notifiers: Sequence[StaffNotifier] = (),
        public_url: str = "",
    ) -> None:
        self._db = db
        self._notifiers = list(notifiers)
        self._public_url = public_url
        self._clock = clock
        self._service = service
        self._settings = settings
        self._wake = asyncio.Event()
        self._task = BackgroundTask("sla-scheduler", self._run)
        # What the loop last planned, for the status and the tests.
        self.next_wake: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    async def on_timers_changed(self, _event: SlaTimersChanged) -> None:
        """The broadcast: some timer moved, maybe earlier than our planned wake-up."""
        self.wake()

    async def start(self) -> None:
        await self.recompute_changed()
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        work: dict[str, Callable[[], Awaitable[int]]] = {
            "steps": self.fire_due,
            "follow_ups": self.ask_follow_ups,
            "reassurances": self.reassure_customers,
            "notices": self.send_notices,
        }
        while True:
            self._wake.clear()
            try:
                # Only what is due now costs a write transaction; the rest is one read.
                moments = await self.due_moments()
                now = self._clock.now()
                worked = False
                for kind, moment in moments.items():
                    if moment is not None and moment <= now:
                        await work[kind]()
                        worked = True
                # Read again only if work moved the moments (most wake-ups do no work).
                if worked:
                    moments = await self.due_moments()
                due = min((m for m in moments.values() if m), default=None)
            except Exception:
                log.exception("the SLA scheduler failed; it looks again in a moment")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            self.next_wake = due
            delay = self._settings.max_sleep_seconds
            if due is not None:
                delay = min(delay, (due - self._clock.now()).total_seconds())
            if delay > 0:
                await wait_for_event(self._wake, delay)

    async def next_due(self) -> datetime | None:
        """The earliest moment anything is due."""
        return min((m for m in (await self.due_moments()).values() if m), default=None)

    async def due_moments(self) -> dict[str, datetime | None]:
        """When each kind of work is next due: a timer's ladder step, a complaint's follow-up,
        a "we have not forgotten you", an escalation notice. Each is one index lookup."""
        async with self._db.read() as session:
            step = await session.scalar(select(func.min(SlaTimer.next_fire_at)))
            question = await follow_up.next_due(session)
            word = await session.scalar(select(func.min(SlaTimer.reassure_at)))
            notice = await notices.next_due(session) if self._notifiers else None
        return {"steps": step, "follow_ups": question, "reassurances": word, "notices": notice}

    async def reassure_customers(self) -> int:
        """Tell each customer whose wait reached `reassure_after_hours` that we have not
        forgotten them (once per response owed)."""
        told = 0
        while True:
            async with self._db.transaction() as session:
                count = await reassure.tell_due(
                    session, self._clock.now(), self._settings.claim_batch, self._db.is_sqlite
                )
            told += count
            if count < self._settings.claim_batch:
                return told

    async def send_notices(self) -> int:
        """Send every escalation notice due now (none without a notifier)."""
        if not self._notifiers:
            return 0
        sent = 0
        while True:
            async with self._db.transaction() as session:
                count = await notices.send_due(
                    session,
                    self._notifiers,
                    now=self._clock.now(),
                    limit=self._settings.claim_batch,
                    is_sqlite=self._db.is_sqlite,
                    public_url=self._public_url,
                )
            sent += count
            if count < self._settings.claim_batch:
                return sent

    async def ask_follow_ups(self) -> int:
        """Ask every complaint follow-up due now."""
        asked = 0
        while True:
            async with self._db.transaction() as session:
                count = await follow_up.ask_due(
                    session, self._clock.now(), self._settings.claim_batch, self._db.is_sqlite
                )
            asked += count
            if count < self._settings.claim_batch:
                return asked

    async def fire_due(self) -> int:
        """Fire every step due now, batch by batch; the number of timers that fired."""
        fired = 0
        while True:
            count = await self.fire_batch()
            fired += count
            if count < self._settings.claim_batch:
                return fired

    async def fire_batch(self) -> int:
        now = self._clock.now()
        async with self._db.transaction() as session:
            # Flushed once, by `announce`: an autoflush per statement costs a whole batch's
            # bookkeeping each time.
            session.autoflush = False
            due = await claim_due(session, now, self._settings.claim_batch, self._db.is_sqlite)
            if not due:
                return 0
            ids = sorted({timer.ticket_id for timer in due})
            query = select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)
            tickets = {t.id: t for t in await session.scalars(query.with_for_update())}
            recipients, raised = Recipients(session), []
            for timer in due:
                ticket = tickets[timer.ticket_id]
                match = await self._match(session, timer, ticket)
                # Every step already due fires now, in order (catching up after downtime).
                while timer.next_fire_at is not None and timer.next_fire_at <= now:
                    raised.append(await fire_step(session, timer, ticket, match, now, recipients))
                    if LADDER[timer.step] == Level.BREACH:
                        timer.breached_at = now
                    timer.step += 1
                    timer.updated_at = now
                    timers.schedule(timer, match, self._service.reassure)
            await announce(session, raised)
            return len(due)

    async def _match(self, session: AsyncSession, timer: SlaTimer, ticket: Ticket) -> Match:
        return self._service.book.by_name(
            timer.policy, timer.calendar
        ) or await self._service.match(session, ticket)

    async def recompute_changed(self) -> int:
        """Timers computed under a policy or calendar that has changed since are recomputed
        (at start: the settings change only with a restart)."""
        current = self._service.book.fingerprints()
        async with self._db.read() as session:
            groups = (
                await session.execute(
                    select(SlaTimer.policy, SlaTimer.calendar, SlaTimer.fingerprint)
                    .where(SlaTimer.status.in_(ACTIVE))
                    .distinct()
                )
            ).all()
        stale = [g for g in groups if current.get((g[0], g[1])) != g[2]]
        recomputed = 0
        for policy, calendar, fingerprint in stale:
            while True:
                count = await self._recompute_batch(policy, calendar, fingerprint)
                recomputed += count
                if count < RECOMPUTE_BATCH:
                    break
        if recomputed:
            log.info("SLA: %d timers recomputed after a policy or calendar change", recomputed)
        return recomputed

    async def _recompute_batch(self, policy: str, calendar: str, fingerprint: str) -> int:
        now = self._clock.now()
        async with self._db.transaction() as session:
            query = (
                select(SlaTimer)
                .where(
                    SlaTimer.policy == policy,
                    SlaTimer.calendar == calendar,
                    SlaTimer.fingerprint == fingerprint,
                    SlaTimer.status.in_(ACTIVE),
                )
                .limit(RECOMPUTE_BATCH)
                .with_for_update()
            )
            batch = list(await session.scalars(query))
            old = self._service.book.calendar(calendar)
            touched: set[int] = set()
            for timer in batch:
                ticket = await session.get(Ticket, timer.ticket_id)
                if ticket is None:
                    continue
                match = await self._service.match(session, ticket)
                timers.recompute(timer, match, old, now, self._service.reassure)
                if timer.fingerprint == fingerprint:
                    # Matched the same old fingerprint: nothing else to do; avoid looping.
                    timer.fingerprint = match.fingerprint
                touched.add(ticket.id)
            if touched:
                # One wake-up for the batch is enough for every scheduler.
                record(session, SlaTimersChanged(min(touched)))
            return len(batch)


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, is_sqlite: bool
) -> list[SlaTimer]:
    """Running timers whose next step is due, oldest first, locked for this transaction (rows
    another process holds are skipped: it is firing them)."""
    query = (
        select(SlaTimer)
        .where(SlaTimer.next_fire_at <= now, SlaTimer.status == TimerStatus.RUNNING)
        .order_by(SlaTimer.next_fire_at)
        .limit(limit)
    )
    if not is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))
