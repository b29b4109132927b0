"""The delivery worker: claims due outbox items, hands them to channel adapters, records results.

Items are claimed with a lease (and `FOR UPDATE SKIP LOCKED` on PostgreSQL) so several workers,
in one process or many, never send the same item at once. A worker that dies mid-send leaves
its lease to expire and the item is tried again. A worker claims only items for channels its
process can send on; the others wait for a process that can (`waiting.py` reports them).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask, wait_for_event
from helpdesk.common.clock import Clock
from helpdesk.delivery.addressing import by_id, outbound_many
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.delivery.settings import OutboxSettings
from helpdesk.events.types import DeliveryChanged, ReplyQueued
from helpdesk.messages import (
    ChannelAdapter,
    DeliveryError,
    OutboundMessage,
)
from helpdesk.storage.attachments import AttachmentMissing, AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import DeliveryState, Message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Job:
    item_id: int
    channel: str
    attempts: int
    outbound: OutboundMessage | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    state: DeliveryState | None = None
    error: DeliveryError | None = None


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        adapters: Mapping[str, ChannelAdapter],
        settings: OutboxSettings,
        attachments: AttachmentStore,
    ) -> None:
        self._db = db
        self._clock = clock
        self._adapters = adapters
        self._settings = settings
        self._attachments = attachments
        self._wake = asyncio.Event()
        # Rounds overlap: while one waits on its sends, another claims and records, so the
        # channels and the database are both kept busy.
        self._workers = [
            BackgroundTask(f"outbox-{n}", self._run) for n in range(settings.parallel_rounds)
        ]

    async def on_reply_queued(self, _event: ReplyQueued) -> None:
        """Deliver now rather than at the next poll (a broadcast: every process's worker)."""
        self._wake.set()

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self._workers:
            await worker.stop()

    async def _run(self) -> None:
        while True:
            try:
                delivered = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox round failed; trying again shortly")
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            await wait_for_event(self._wake, self._settings.poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim what is due, deliver it in parallel (the adapters bound how much at
        once), record all results in one transaction. Returns items tried."""
        claimed = await self._claim()
        if claimed:
            jobs = await self._load(claimed)
            outcomes = await asyncio.gather(*(self._deliver(job) for job in jobs))
            await self._record(outcomes)
        return len(claimed)

    async def _claim(self) -> list[int]:
        now = self._clock.now()
        # Read at every claim: the Telegram adapter is added after start, once aiogram loaded.
        channels = list(self._adapters)
        async with self._db.transaction() as session:
            ids = (
                await session.scalars(
                    select(OutboxItem.id)
                    .where(
                        OutboxItem.channel.in_(channels),
                        or_(
                            and_(
                                OutboxItem.status == OutboxStatus.PENDING,
                                OutboxItem.next_attempt_at <= now,
                            ),
                            and_(
                                OutboxItem.status == OutboxStatus.SENDING,
                                OutboxItem.lease_until <= now,
                            ),
                        ),
                    )
                    .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                    .limit(self._settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if ids:
                # One statement for the whole claim: a round is one short turn at the writer.
                await session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_(ids))
                    .values(
                        status=OutboxStatus.SENDING,
                        attempts=OutboxItem.attempts + 1,
                        lease_until=now + timedelta(seconds=self._settings.lease_seconds),
                    )
                )
            return list(ids)

    async def _load(self, item_ids: list[int]) -> list[_Job]:
        """What each claimed item sends, read with a few statements for the whole round."""
        async with self._db.read() as session:
            items = (
                await session.scalars(select(OutboxItem).where(OutboxItem.id.in_(item_ids)))
            ).all()
            messages = await by_id(session, Message, {item.message_id for item in items})
            outbounds = await outbound_many(session, list(messages.values()))
        return [
            _Job(item.id, item.channel, item.attempts, outbounds.get(item.message_id))
            for item in sorted(items, key=lambda i: i.id)
        ]

    async def _deliver(self, job: _Job) -> _Outcome:
        adapter = self._adapters.get(job.channel)
        try:
            if adapter is None:
                raise DeliveryError(f"the {job.channel} channel is not configured")
            if job.outbound is None:
                raise DeliveryError(
                    "the customer has no reachable address on this channel", permanent=True
                )
            # Checked before the first part goes out: a reply sent in part cannot be taken back.
            await self._check_files(job.outbound)
            receipt = await adapter.send(job.outbound)
        except DeliveryError as exc:
            return _Outcome(job, error=exc)
        except AttachmentMissing as exc:
            # Waiting brings no file back: fail now, with the reason, instead of retrying.
            error = DeliveryError(f"a file of the reply is lost ({exc})", permanent=True)
            return _Outcome(job, error=error)
        except Exception as exc:
            log.exception("adapter %s failed on outbox item %d", job.channel, job.item_id)
            return _Outcome(job, error=DeliveryError(f"{type(exc).__name__}: {exc}"))
        state = DeliveryState.DELIVERED if receipt.delivered else DeliveryState.SENT
        return _Outcome(job, state=state)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        """Every result of a round in one transaction: one turn at the writer, not one each."""
        now = self._clock.now()
        failures: list[tuple[int, _Outcome, bool]] = []  # message id, outcome, gives up
        async with self._db.transaction() as session:
            for state in {o.state for o in outcomes if o.state is not None}:
                done = [o.job.item_id for o in outcomes if o.state == state]
                await self._record_successes(session, done, state, now)
            for outcome in outcomes:
                if outcome.error is not None:
                    failed = await self._record_failure(session, outcome, now)
                    if failed is not None:
                        failures.append((failed[0], outcome, failed[1]))
        for message_id, outcome, gives_up in failures:
            log.warning(
                "delivery of message %d %s: %s",
                message_id,
                "failed for good"
                if gives_up
                else f"failed (attempt {outcome.job.attempts}), will retry",
                outcome.error,
            )

    async def _check_files(self, outbound: OutboundMessage) -> None:
        if not outbound.attachments:
            return
        missing = await self._attachments.missing(f.sha256 for f in outbound.attachments)
        lost = [f.filename for f in outbound.attachments if f.sha256 in missing]
        if lost:
            raise DeliveryError(
                f"the reply cannot be sent: its file(s) {', '.join(lost)} are no longer stored",
                permanent=True,
            )

    async def _record_successes(
        self, session: AsyncSession, item_ids: list[int], state: DeliveryState, now: datetime
    ) -> None:
        """Items delivered, with a few statements whatever their number."""
        # Locked: the customer's receipt (`received` on the web chat) may be committing now,
        # and a plain read would overwrite its DELIVERED with SENT.
        rows = (
            await session.execute(
                select(Message.id, Message.ticket_id, Message.delivery_state)
                .join(OutboxItem, OutboxItem.message_id == Message.id)
                .where(OutboxItem.id.in_(item_ids))
                .with_for_update()
            )
        ).all()
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(item_ids))
            .values(status=OutboxStatus.DONE, done_at=now, lease_until=None, last_error=None)
        )
        if not rows:
            return
        # The customer may already have confirmed receipt; never move a state backwards.
        moved = [row.id for row in rows if row.delivery_state != DeliveryState.DELIVERED]
        if moved:
            await session.execute(
                update(Message).where(Message.id.in_(moved)).values(delivery_state=state)
            )
        await session.execute(
            update(Message)
            .where(Message.id.in_([row.id for row in rows]))
            .values(delivered_at=func.coalesce(Message.delivered_at, now), delivery_error=None)
        )
        for row in rows:
            kept = row.delivery_state == DeliveryState.DELIVERED
            final = DeliveryState.DELIVERED if kept else state
            record(session, DeliveryChanged(row.ticket_id, row.id, final.value))

    async def _record_failure(
        self, session: AsyncSession, outcome: _Outcome, now: datetime
    ) -> tuple[int, bool] | None:
        """The failure recorded; (message id, whether it is given up), for the log."""
        error, attempts = outcome.error, outcome.job.attempts
        assert error is not None
        gives_up = error.permanent or attempts >= self._settings.max_attempts
        item = await session.get(OutboxItem, outcome.job.item_id)
        if item is None:
            return None
        message = await session.get(Message, item.message_id)
        assert message is not None
        item.last_error = str(error)
        item.lease_until = None
        message.delivery_error = str(error)
        if gives_up:
            item.status = OutboxStatus.FAILED
            item.done_at = now
            message.delivery_state = DeliveryState.FAILED
        else:
            item.status = OutboxStatus.PENDING
            item.next_attempt_at = now + self._backoff(attempts, error.retry_after)
        record(
            session,
            DeliveryChanged(message.ticket_id, message.id, message.delivery_state.value),
        )
        return message.id, gives_up

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        base = self._settings.backoff_base_seconds * 2 ** (attempts - 1)
        # Jitter spreads retries of many items so a recovering server is not hit all at once.
        seconds = min(base, self._settings.backoff_max_seconds) * random.uniform(0.8, 1.2)
        return timedelta(seconds=seconds)
