"""The one way in: InboundMessage -> customer, ticket, message, in one transaction.

`receive_batch` stores several messages in one transaction (each outcome as if it were alone);
`IntakeService` gathers concurrent arrivals into such batches, so a burst costs one commit instead
of hundreds, and falls back to one transaction per message if a batch fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from helpdesk import audit
from helpdesk.attachments import AttachmentStore
from helpdesk.background import BackgroundTask
from helpdesk.bus import EventBus
from helpdesk.channels.base import InboundMessage
from helpdesk.clock import Clock
from helpdesk.db import Database
from helpdesk.events import Event, MessageReceived, TicketCreated, TicketReopened
from helpdesk.models import (
    OPEN_STATUSES,
    Attachment,
    AuthorType,
    Customer,
    Direction,
    Identity,
    Message,
    Ticket,
    TicketStatus,
)
from helpdesk.sanitize import clean_html, clean_text

log = logging.getLogger(__name__)

SUBJECT_LENGTH = 120


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake did with one message; `duplicate` means it was already stored."""

    message_id: int
    ticket_id: int
    customer_id: int
    duplicate: bool = False
    new_ticket: bool = False
    reopened: bool = False


@dataclass(slots=True)
class _Pending:
    """A message added to the session in this batch, before its ids are known."""

    message: Message
    ticket: Ticket
    customer: Customer
    new_ticket: bool
    reopened: bool
    duplicate_of: _Pending | None = None


@dataclass(slots=True)
class _Batch:
    now: datetime
    reopen_window: timedelta
    identities: dict[tuple[str, str], Identity] = field(default_factory=dict)
    tickets: dict[tuple[int, str], Ticket] = field(default_factory=dict)
    in_batch: dict[tuple[str, str], _Pending] = field(default_factory=dict)


def normalise_address(channel: str, address: str) -> str:
    address = address.strip()
    return address.lower() if channel == "email" else address


def subject_from(message: InboundMessage) -> str:
    if message.subject and message.subject.strip():
        return message.subject.strip()[:SUBJECT_LENGTH]
    first_line = next((line.strip() for line in message.text.splitlines() if line.strip()), "")
    return first_line[:SUBJECT_LENGTH] or "(no text)"


async def receive_batch(
    session: AsyncSession,
    messages: Sequence[InboundMessage],
    *,
    now: datetime,
    reopen_window: timedelta,
    attachment_hashes: Sequence[Sequence[str]] | None = None,
) -> tuple[list[Receipt], list[Event]]:
    """Store each message once; must run inside a transaction the caller commits."""
    messages = [_cleaned(m) for m in messages]
    batch = _Batch(now=now, reopen_window=reopen_window)
    stored = await _already_stored(session, messages)
    batch.identities = await _known_identities(session, messages)
    outcomes: list[_Pending | tuple[int, int, int]] = []
    with session.no_autoflush:
        for index, inbound in enumerate(messages):
            key = (inbound.channel, inbound.external_id)
            if key in stored:
                outcomes.append(stored[key])
                continue
            if key in batch.in_batch:
                first = batch.in_batch[key]
                outcomes.append(
                    _Pending(first.message, first.ticket, first.customer, False, False, first)
                )
                continue
            hashes = attachment_hashes[index] if attachment_hashes else ()
            pending = await _store_one(session, batch, inbound, hashes)
            batch.in_batch[key] = pending
            outcomes.append(pending)
    await session.flush()
    return _receipts_and_events(session, batch, outcomes)


def _cleaned(message: InboundMessage) -> InboundMessage:
    """Every text field without control characters; channels need not remember to do it."""
    return replace(
        message,
        external_id=clean_text(message.external_id),
        sender=clean_text(message.sender),
        sender_name=clean_text(message.sender_name),
        text=clean_text(message.text),
        html=clean_text(message.html) if message.html else None,
        subject=clean_text(message.subject) if message.subject else None,
    )


async def _already_stored(
    session: AsyncSession, messages: Sequence[InboundMessage]
) -> dict[tuple[str, str], tuple[int, int, int]]:
    keys = {(m.channel, m.external_id) for m in messages}
    rows = await session.execute(
        select(
            Message.channel, Message.external_id, Message.id, Message.ticket_id, Ticket.customer_id
        )
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(tuple_(Message.channel, Message.external_id).in_(list(keys)))
    )
    return {(r.channel, r.external_id): (r.id, r.ticket_id, r.customer_id) for r in rows}


async def _known_identities(
    session: AsyncSession, messages: Sequence[InboundMessage]
) -> dict[tuple[str, str], Identity]:
    keys = {(m.channel, normalise_address(m.channel, m.sender)) for m in messages}
    result = await session.scalars(
        select(Identity)
        .options(joinedload(Identity.customer))
        .where(tuple_(Identity.channel, Identity.address).in_(list(keys)))
    )
    return {(i.channel, i.address): i for i in result}


async def _store_one(
    session: AsyncSession, batch: _Batch, inbound: InboundMessage, attachment_hashes: Sequence[str]
) -> _Pending:
    identity = _identity_for(session, batch, inbound)
    customer = identity.customer
    ticket, new_ticket, reopened = await _ticket_for(session, batch, customer, inbound)
    ticket.updated_at = batch.now
    ticket.last_customer_message_at = batch.now
    message = Message(
        ticket=ticket,
        direction=Direction.IN,
        author_type=AuthorType.CUSTOMER,
        customer=customer,
        identity=identity,
        channel=inbound.channel,
        external_id=inbound.external_id,
        text=inbound.text,
        html=clean_html(inbound.html),
        created_at=batch.now,
        sent_at=inbound.sent_at,
    )
    session.add(message)
    for attachment, digest in zip(inbound.attachments, attachment_hashes, strict=True):
        message.attachments.append(
            Attachment(
                filename=attachment.filename[:255],
                content_type=attachment.content_type[:255],
                size=len(attachment.data),
                sha256=digest,
                inline=attachment.inline,
            )
        )
    return _Pending(message, ticket, customer, new_ticket, reopened)


def _identity_for(session: AsyncSession, batch: _Batch, inbound: InboundMessage) -> Identity:
    address = normalise_address(inbound.channel, inbound.sender)
    identity = batch.identities.get((inbound.channel, address))
    if identity is not None:
        if inbound.sender_name and not identity.display_name:
            identity.display_name = inbound.sender_name[:200]
        return identity
    customer = Customer(
        name=(inbound.sender_name or address)[:200],
        email=address if inbound.channel == "email" else None,
        language=inbound.language,
        created_at=batch.now,
    )
    identity = Identity(
        customer=customer,
        channel=inbound.channel,
        address=address,
        display_name=inbound.sender_name[:200],
        created_at=batch.now,
    )
    session.add_all([customer, identity])
    batch.identities[(inbound.channel, address)] = identity
    return identity


async def _ticket_for(
    session: AsyncSession, batch: _Batch, customer: Customer, inbound: InboundMessage
) -> tuple[Ticket, bool, bool]:
    """Continue the open conversation, reopen a recently resolved one, or open a new ticket."""
    key = (id(customer), inbound.channel)
    if key in batch.tickets:
        return batch.tickets[key], False, False
    current = await _candidate_ticket(session, customer, inbound)
    reopened = False
    if current is not None and current.status in OPEN_STATUSES:
        if current.status == TicketStatus.PENDING:
            current.status = TicketStatus.OPEN
        ticket, new_ticket = current, False
    elif current is not None and _reopenable(current, batch):
        current.status = TicketStatus.OPEN
        current.resolved_at = None
        ticket, new_ticket, reopened = current, False, True
    else:
        ticket = Ticket(
            subject=subject_from(inbound),
            status=TicketStatus.NEW,
            channel=inbound.channel,
            customer=customer,
            created_at=batch.now,
            updated_at=batch.now,
        )
        session.add(ticket)
        new_ticket = True
    batch.tickets[key] = ticket
    return ticket, new_ticket, reopened


async def _candidate_ticket(
    session: AsyncSession, customer: Customer, inbound: InboundMessage
) -> Ticket | None:
    if customer.id is None:
        return None
    if inbound.ticket_hint is not None:
        hinted = await session.get(Ticket, inbound.ticket_hint)
        # A hint naming someone else's ticket is ignored: strangers never get into it.
        if hinted is not None and hinted.customer_id == customer.id:
            return hinted
    if not inbound.continues_latest:
        return None
    return await session.scalar(
        select(Ticket)
        .where(Ticket.customer_id == customer.id, Ticket.channel == inbound.channel)
        .order_by(Ticket.id.desc())
        .limit(1)
    )


def _reopenable(ticket: Ticket, batch: _Batch) -> bool:
    return (
        ticket.status == TicketStatus.RESOLVED
        and ticket.resolved_at is not None
        and batch.now - ticket.resolved_at <= batch.reopen_window
    )


def _receipts_and_events(
    session: AsyncSession, batch: _Batch, outcomes: list[_Pending | tuple[int, int, int]]
) -> tuple[list[Receipt], list[Event]]:
    receipts: list[Receipt] = []
    events: list[Event] = []
    for outcome in outcomes:
        if isinstance(outcome, tuple):
            message_id, ticket_id, customer_id = outcome
            receipts.append(Receipt(message_id, ticket_id, customer_id, duplicate=True))
            continue
        ticket, message = outcome.ticket, outcome.message
        if outcome.duplicate_of is not None:
            receipts.append(Receipt(message.id, ticket.id, ticket.customer_id, duplicate=True))
            continue
        receipts.append(
            Receipt(
                message.id,
                ticket.id,
                ticket.customer_id,
                new_ticket=outcome.new_ticket,
                reopened=outcome.reopened,
            )
        )
        if outcome.new_ticket:
            events.append(TicketCreated(ticket.id, ticket.customer_id, ticket.channel))
            audit.record(
                session,
                at=batch.now,
                actor_type=AuthorType.CUSTOMER,
                actor_id=ticket.customer_id,
                ticket_id=ticket.id,
                action="ticket.created",
                channel=ticket.channel,
            )
        if outcome.reopened:
            events.append(TicketReopened(ticket.id))
            audit.record(
                session,
                at=batch.now,
                actor_type=AuthorType.SYSTEM,
                actor_id=None,
                ticket_id=ticket.id,
                action="ticket.reopened",
                reason=(
                    "the customer wrote again within "
                    f"{batch.reopen_window.total_seconds() / 3600:g} h of resolution"
                ),
            )
        events.append(MessageReceived(ticket.id, message.id, ticket.customer_id, message.channel))
    return receipts, events


class IntakeError(Exception):
    """A message could not be stored; the channel must not acknowledge it."""


@dataclass(slots=True)
class _Job:
    message: InboundMessage
    future: asyncio.Future[Receipt]
    hashes: tuple[str, ...] = ()


class IntakeService:
    """Receives messages from every channel; returns only once each is committed."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        clock: Clock,
        attachments: AttachmentStore,
        *,
        reopen_window: timedelta,
        batch_size: int = 200,
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._attachments = attachments
        self._reopen_window = reopen_window
        self._batch_size = batch_size
        self._queue: list[_Job] = []
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("intake", self._run)

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(IntakeError("helpdesk is shutting down"))
        self._queue.clear()

    async def receive(self, message: InboundMessage) -> Receipt:
        """Store the message (or find it already stored) and return after the commit."""
        if not self._worker.running:
            raise IntakeError("intake is not running")
        hashes = tuple([await self._attachments.put(a.data) for a in message.attachments])
        job = _Job(message, asyncio.get_running_loop().create_future(), hashes)
        self._queue.append(job)
        self._wake.set()
        return await asyncio.shield(job.future)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                jobs = self._queue[: self._batch_size]
                del self._queue[: self._batch_size]
                await self._store(jobs)

    async def _store(self, jobs: list[_Job]) -> None:
        try:
            receipts, events = await self._commit(jobs)
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
        self._bus.publish(events)
        for job, receipt in zip(jobs, receipts, strict=True):
            if not job.future.done():
                job.future.set_result(receipt)

    async def _store_alone(self, job: _Job, first_error: Exception) -> None:
        try:
            receipts, events = await self._commit([job])
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
        self._bus.publish(events)
        if not job.future.done():
            job.future.set_result(receipts[0])

    async def _commit(self, jobs: list[_Job]) -> tuple[list[Receipt], list[Event]]:
        async with self._db.transaction() as session:
            return await receive_batch(
                session,
                [job.message for job in jobs],
                now=self._clock.now(),
                reopen_window=self._reopen_window,
                attachment_hashes=[job.hashes for job in jobs],
            )
