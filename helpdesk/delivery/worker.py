"""The delivery worker: claims due outbox items, hands them to channel adapters, records results.

Items are claimed with a lease (and `FOR UPDATE SKIP LOCKED` on PostgreSQL) so several workers,
in one process or many, never send the same item at once. A worker that dies mid-send leaves
its lease to expire and the item is tried again. A worker claims only items for channels its
process can send on; the others wait for a process that can (`waiting.py` reports them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.customers.models import Identity
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.delivery.settings import OutboxSettings
from helpdesk.events.types import DeliveryChanged, ReplyQueued
from helpdesk.messages import (
    ChannelAdapter,
    DeliveryError,
    OutboundAttachment,
    OutboundMessage,
    QuickReply,
)
from helpdesk.staff.models import Agent
from helpdesk.storage.attachments import AttachmentMissing, AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import Attachment, DeliveryState, Direction, Message, Ticket

log = logging.getLogger(__name__)


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
        self._worker = BackgroundTask("outbox", self._run)

    async def on_reply_queued(self, _event: ReplyQueued) -> None:
        """Deliver now rather than at the next poll (a broadcast: every process's worker)."""
        self._wake.set()

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim what is due, deliver it, record the results. Returns items tried."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(item_id) for item_id in claimed))
        return len(claimed)

    async def _claim(self) -> list[int]:
        now = self._clock.now()
        # Read at every claim: the Telegram adapter is added after start, once aiogram loaded.
        channels = list(self._adapters)
        async with self._db.transaction() as session:
            items = (
                await session.scalars(
                    select(OutboxItem)
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
            for item in items:
                item.status = OutboxStatus.SENDING
                item.attempts += 1
                item.lease_until = now + timedelta(seconds=self._settings.lease_seconds)
            return [item.id for item in items]

    async def _deliver(self, item_id: int) -> None:
        async with self._db.read() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            message = await session.get(Message, item.message_id)
            assert message is not None
            outbound = await _outbound_for(session, message)
            attempts = item.attempts
        adapter = self._adapters.get(item.channel)
        try:
            if adapter is None:
                raise DeliveryError(f"the {item.channel} channel is not configured")
            if outbound is None:
                raise DeliveryError(
                    "the customer has no reachable address on this channel", permanent=True
                )
            # Checked before the first part goes out: a reply sent in part cannot be taken back.
            await self._check_files(outbound)
            receipt = await adapter.send(outbound)
        except DeliveryError as exc:
            await self._record_failure(item_id, attempts, exc)
        except AttachmentMissing as exc:
            # Waiting brings no file back: fail now, with the reason, instead of retrying.
            await self._record_failure(
                item_id,
                attempts,
                DeliveryError(f"a file of the reply is lost ({exc})", permanent=True),
            )
        except Exception as exc:
            log.exception("adapter %s failed on outbox item %d", item.channel, item_id)
            await self._record_failure(
                item_id, attempts, DeliveryError(f"{type(exc).__name__}: {exc}")
            )
        else:
            state = DeliveryState.DELIVERED if receipt.delivered else DeliveryState.SENT
            await self._record_success(item_id, state)

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

    async def _record_success(self, item_id: int, state: DeliveryState) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            item = await session.get(OutboxItem, item_id)
            assert item is not None
            # Locked: the customer's receipt (`received` on the web chat) may be committing
            # now, and a plain read would overwrite its DELIVERED with SENT.
            message = await session.get(Message, item.message_id, with_for_update=True)
            assert message is not None
            item.status, item.done_at, item.lease_until, item.last_error = (
                OutboxStatus.DONE,
                now,
                None,
                None,
            )
            # The customer may already have confirmed receipt; never move a state backwards.
            if message.delivery_state != DeliveryState.DELIVERED:
                message.delivery_state = state
            message.delivered_at = message.delivered_at or now
            message.delivery_error = None
            record(
                session,
                DeliveryChanged(message.ticket_id, message.id, message.delivery_state.value),
            )

    async def _record_failure(self, item_id: int, attempts: int, error: DeliveryError) -> None:
        now = self._clock.now()
        gives_up = error.permanent or attempts >= self._settings.max_attempts
        async with self._db.transaction() as session:
            item = await session.get(OutboxItem, item_id)
            assert item is not None
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
            message_id = message.id
        log.warning(
            "delivery of message %d %s: %s",
            message_id,
            "failed for good" if gives_up else f"failed (attempt {attempts}), will retry",
            error,
        )

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        base = self._settings.backoff_base_seconds * 2 ** (attempts - 1)
        # Jitter spreads retries of many items so a recovering server is not hit all at once.
        seconds = min(base, self._settings.backoff_max_seconds) * random.uniform(0.8, 1.2)
        return timedelta(seconds=seconds)


async def _outbound_for(session: AsyncSession, message: Message) -> OutboundMessage | None:
    ticket = await session.get(Ticket, message.ticket_id)
    assert ticket is not None
    # An agent who wrote first chose the address; everything else goes where the customer wrote.
    identity = (
        await session.get(Identity, message.identity_id)
        if message.identity_id is not None
        else await _recipient(session, ticket)
    )
    if identity is None or identity.unreachable:
        return None
    author = await session.get(Agent, message.agent_id) if message.agent_id else None
    files = await session.scalars(
        select(Attachment).where(Attachment.message_id == message.id).order_by(Attachment.id)
    )
    return OutboundMessage(
        message_id=message.id,
        ticket_id=ticket.id,
        channel=message.channel,
        recipient=identity.address,
        text=message.text,
        html=message.html,
        author_name=author.name if author else "Support",
        sent_at=message.created_at,
        quick_replies=tuple(
            QuickReply(q["payload"], q["label"]) for q in message.quick_replies or ()
        ),
        author_type=message.author_type.value,
        attachments=tuple(
            OutboundAttachment(f.filename, f.content_type, f.sha256, f.size) for f in files
        ),
    )


async def _recipient(session: AsyncSession, ticket: Ticket) -> Identity | None:
    """The address the customer last wrote from on this ticket, else any on its channel."""
    last_inbound = await session.scalar(
        select(Message.identity_id)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.IN,
            Message.identity_id.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if last_inbound is not None:
        return await session.get(Identity, last_inbound)
    return await session.scalar(
        select(Identity)
        .where(Identity.customer_id == ticket.customer_id, Identity.channel == ticket.channel)
        .limit(1)
    )
