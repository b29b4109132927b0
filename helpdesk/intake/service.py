"""The one way in: InboundMessage -> customer, ticket, message, in one transaction.

Every channel hands its messages to `IntakeService`:
  * `receive(message)` for one message at a time (web chat): concurrent arrivals are gathered
    into batches that `receive_batch` stores in one transaction (each outcome as if the message
    had come alone), so a burst costs one commit instead of hundreds; if a batch fails it falls
    back to one transaction per message.
  * `unit()` for a channel that must commit its own checkpoint (the IMAP UID, the Telegram
    offset) with its messages: intake opens the transaction, the channel stores its messages
    through it and writes its own tables on its session, and everything commits together.
Either way the events of what was stored are written to the event log in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.intake.batch import Receipt, normalise_address, receive_batch
from helpdesk.messages import InboundMessage
from helpdesk.storage import event_log
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

__all__ = ["IntakeError", "IntakeService", "IntakeUnit", "Receipt", "normalise_address"]


class IntakeError(Exception):
    """A message could not be stored; the channel must not acknowledge it."""


# Told of every message after its commit: (channel, seconds from arrival to commit, stored
# rather than a duplicate). The composition root points it at the metrics.
Observer = Callable[[str, float, bool], None]


def _ignore(_channel: str, _seconds: float, _stored: bool) -> None:
    pass


@dataclass(slots=True)
class _Job:
    message: InboundMessage
    future: asyncio.Future[Receipt]
    hashes: tuple[str, ...] = ()


@dataclass(slots=True)
class IntakeUnit:
    """Intake's transaction, lent to a channel: `session` is for the channel's own tables."""

    session: AsyncSession
    now: datetime
    reopen_window: timedelta
    stored: list[tuple[str, float, bool]] = field(default_factory=list)

    async def receive(
        self,
        messages: Sequence[InboundMessage],
        attachment_hashes: Sequence[Sequence[str]] | None = None,
    ) -> list[Receipt]:
        """Store the messages (each once) in this unit's transaction."""
        receipts, events = await receive_batch(
            self.session,
            messages,
            now=self.now,
            reopen_window=self.reopen_window,
            attachment_hashes=attachment_hashes,
        )
        event_log.record(self.session, *events)
        arrived = time.monotonic()
        self.stored.extend(
            (m.channel, arrived, not r.duplicate) for m, r in zip(messages, receipts, strict=True)
        )
        return receipts


class IntakeService:
    """Receives messages from every channel; returns only once each is committed.

    One writer commits batches one after another. Several side by side (tried on PostgreSQL)
    made batches smaller and cost more CPU per message than the overlap saved
    (docs/benchmarks.md)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        attachments: AttachmentStore,
        *,
        reopen_window: timedelta,
        batch_size: int = 200,
        batch_interval: float = 0.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._attachments = attachments
        self._reopen_window = reopen_window
        self._batch_size = batch_size
        # Only SQLite gains: there the batch's fixed cost is this process's CPU. On PostgreSQL
        # this process idles while the server works, and fuller batches only waited longer
        # (p99 47-73 ms against 35-37 ms at 1,500 msg/s, docs/benchmarks.md).
        self._batch_interval = batch_interval if db.is_sqlite else 0.0
        self._queue: list[_Job] = []
        self._in_flight: list[_Job] = []
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("intake", self._run)
        self._closing = False
        # Set whenever the worker has nothing taken and nothing queued.
        self._idle = asyncio.Event()
        self._idle.set()
        self.observer: Observer = _ignore

    def start(self) -> None:
        self._closing = False
        self._worker.start()

    async def stop(self, drain_seconds: float = 0.0) -> None:
        """Stop taking messages; give those already taken up to `drain_seconds` to commit."""
        self._closing = True
        if self._queue or self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), drain_seconds)
        await self._worker.stop()
        # A batch cut short by the stop was rolled back: its callers must not wait forever.
        for job in [*self._in_flight, *self._queue]:
            if not job.future.done():
                job.future.set_exception(IntakeError("helpdesk is shutting down"))
        self._in_flight, self._queue = [], []

    async def receive(self, message: InboundMessage) -> Receipt:
        """Store the message (or find it already stored) and return after the commit."""
        if not self._worker.running or self._closing:
            raise IntakeError("intake is not running")
        arrived = time.monotonic()
        hashes = (
            await self._attachments.put_many([a.data for a in message.attachments])
            if message.attachments
            else ()
        )
        job = _Job(message, asyncio.get_running_loop().create_future(), hashes)
        self._queue.append(job)
        self._idle.clear()
        self._wake.set()
        # Not shielded: a caller that gives up cancels only its wait; the worker skips a done
        # future, and the message is stored all the same.
        receipt = await job.future
        self.observer(message.channel, time.monotonic() - arrived, not receipt.duplicate)
        return receipt

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_start = -self._batch_interval
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                # Under load, batches started back to back stay small and each pays the fixed
                # cost of a transaction; waiting out the interval lets more arrivals join one.
                # A message after a quiet spell finds the interval long past and waits not at all.
                early = last_start + self._batch_interval - loop.time()
                if early > 0 and len(self._queue) < self._batch_size:
                    await asyncio.sleep(early)
                last_start = loop.time()
                self._in_flight = self._queue[: self._batch_size]
                del self._queue[: self._batch_size]
                await self._store(self._in_flight)
                self._in_flight = []
            self._idle.set()

    async def _store(self, jobs: list[_Job]) -> None:
        try:
            receipts = await self._commit(jobs)
        except (IntegrityError, DBAPIError, OSError) as exc:
            if len(jobs) == 1:
                # A concurrent writer may have stored the same customer or message; try once more.
                await self._store_alone(jobs[0], exc)
                return
            log.warning("intake batch of %d failed (%s); storing one by one", len(jobs), exc)
            for job in jobs:
                await self._store([job])
            return
        except Exception as exc:
            log.exception("intake failed on a batch of %d", len(jobs))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(IntakeError(str(exc)))
            return
        for job, receipt in zip(jobs, receipts, strict=True):
            if not job.future.done():
                job.future.set_result(receipt)

    async def _store_alone(self, job: _Job, first_error: Exception) -> None:
        try:
            receipts = await self._commit([job])
        except Exception as exc:
            log.error(
                "intake could not store %s: %s (first: %s)",
                job.message.external_id,
                exc,
                first_error,
            )
            if not job.future.done():
                job.future.set_exception(IntakeError(str(exc)))
            return
        if not job.future.done():
            job.future.set_result(receipts[0])

    async def _commit(self, jobs: list[_Job]) -> list[Receipt]:
        now = self._clock.now()
        async with self._db.write_connection() as connection:
            receipts, events = await receive_batch(
                connection,
                [job.message for job in jobs],
                now=now,
                reopen_window=self._reopen_window,
                attachment_hashes=[job.hashes for job in jobs],
            )
            await event_log.append(connection, events, now)
        if events:
            self._db.events_committed(event_log.type_names(events))
        return receipts

    @contextlib.asynccontextmanager
    async def unit(self, *, now: datetime | None = None) -> AsyncIterator[IntakeUnit]:
        """One transaction for a channel's messages and its own checkpoint: both commit, or
        neither does. The channel acknowledges upstream only after the block has returned."""
        async with self._db.transaction() as session:
            unit = IntakeUnit(session, now or self._clock.now(), self._reopen_window)
            yield unit
        committed = time.monotonic()
        for channel, arrived, stored in unit.stored:
            self.observer(channel, committed - arrived, stored)
