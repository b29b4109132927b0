"""Storing a batch of arrivals in one transaction with a few set-based statements.

Each message's outcome is what it would be if it had arrived alone: its customer found or created
by identity, a duplicate recognised by (channel, external id), the ticket chosen by
`ticket_choice`. Statements work on whole sets (one INSERT for all messages, one UPDATE for all
touched tickets) because per-object ORM work, not the database, was what limited intake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.channels.base import InboundMessage
from helpdesk.events import Event, MessageReceived, TicketCreated, TicketReopened
from helpdesk.models import (
    Attachment,
    AuditEntry,
    AuthorType,
    Customer,
    Direction,
    Identity,
    Message,
    Ticket,
    TicketStatus,
)
from helpdesk.sanitize import clean_html, clean_text
from helpdesk.ticket_choice import Choice, Decision, candidates, decide, pairs_in

SUBJECT_LENGTH = 120
NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake did with one message; `duplicate` means it was already stored."""

    message_id: int
    ticket_id: int
    customer_id: int
    duplicate: bool = False
    new_ticket: bool = False
    reopened: bool = False


@dataclass(frozen=True, slots=True)
class _Sender:
    customer_id: int
    identity_id: int


def normalise_address(channel: str, address: str) -> str:
    address = address.strip()
    return address.lower() if channel == "email" else address


def subject_from(message: InboundMessage) -> str:
    if message.subject and message.subject.strip():
        return message.subject.strip()[:SUBJECT_LENGTH]
    first_line = next((line.strip() for line in message.text.splitlines() if line.strip()), "")
    return first_line[:SUBJECT_LENGTH] or "(no text)"


def _key(message: InboundMessage) -> tuple[str, str]:
    return message.channel, message.external_id


def _sender_key(message: InboundMessage) -> tuple[str, str]:
    return message.channel, normalise_address(message.channel, message.sender)


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
    hashes = list(attachment_hashes) if attachment_hashes else [()] * len(messages)
    stored = await _already_stored(session, messages)
    fresh: dict[tuple[str, str], int] = {}
    for index, message in enumerate(messages):
        if _key(message) not in stored and _key(message) not in fresh:
            fresh[_key(message)] = index
    new = [messages[i] for i in fresh.values()]
    senders = await _senders(session, new, now)
    decisions = await _decisions(session, new, senders, now, reopen_window)
    ticket_ids, created = await _write_tickets(session, new, senders, decisions, now)
    message_ids = await _insert_messages(session, new, senders, ticket_ids, now)
    await _insert_attachments(session, new, [hashes[i] for i in fresh.values()], message_ids)

    events: list[Event] = []
    audits: list[dict[str, Any]] = []
    for ticket_id, (customer_id, channel, _first) in created.items():
        events.append(TicketCreated(ticket_id, customer_id, channel))
        audits.append(
            _audit_row(
                now, AuthorType.CUSTOMER, customer_id, ticket_id, "ticket.created", channel=channel
            )
        )
    hours = reopen_window.total_seconds() / 3600
    reason = f"the customer wrote again within {hours:g} h of resolution"
    for decision in {d.ticket.id: d for d in decisions if d.choice == Choice.REOPEN}.values():
        assert decision.ticket is not None
        events.append(TicketReopened(decision.ticket.id))
        audits.append(
            _audit_row(
                now, AuthorType.SYSTEM, None, decision.ticket.id, "ticket.reopened", reason=reason
            )
        )
    if audits:
        await session.execute(insert(AuditEntry.__table__), audits)

    receipts: list[Receipt] = []
    reported: set[int] = set()
    position_of = {key: position for position, key in enumerate(fresh)}
    for message in messages:
        key = _key(message)
        if key in stored:
            receipts.append(Receipt(*stored[key], duplicate=True))
            continue
        position = position_of[key]
        message_id, ticket_id = message_ids[key], ticket_ids[position]
        customer_id = senders[_sender_key(message)].customer_id
        if message_id in reported:
            receipts.append(Receipt(message_id, ticket_id, customer_id, duplicate=True))
            continue
        reported.add(message_id)
        decision = decisions[position]
        first_of_new = ticket_id in created and created[ticket_id][2] == position
        receipts.append(
            Receipt(
                message_id,
                ticket_id,
                customer_id,
                new_ticket=first_of_new,
                reopened=decision.choice == Choice.REOPEN,
            )
        )
        events.append(MessageReceived(ticket_id, message_id, customer_id, message.channel))
    return receipts, events


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
        payload=clean_text(message.payload)[: payloads.MAX_LENGTH] if message.payload else None,
    )


async def _already_stored(
    session: AsyncSession, messages: Sequence[InboundMessage]
) -> dict[tuple[str, str], tuple[int, int, int]]:
    rows = await session.execute(
        select(
            Message.channel, Message.external_id, Message.id, Message.ticket_id, Ticket.customer_id
        )
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(pairs_in(Message.channel, Message.external_id, {_key(m) for m in messages}))
    )
    return {(r.channel, r.external_id): (r.id, r.ticket_id, r.customer_id) for r in rows}


async def _senders(
    session: AsyncSession, messages: Sequence[InboundMessage], now: datetime
) -> dict[tuple[str, str], _Sender]:
    """Each sender's customer and identity, creating both for first-time senders."""
    keys = {_sender_key(m) for m in messages}
    senders: dict[tuple[str, str], _Sender] = {}
    unnamed: list[tuple[int, tuple[str, str]]] = []
    if keys:
        rows = await session.execute(
            select(
                Identity.id,
                Identity.channel,
                Identity.address,
                Identity.customer_id,
                Identity.display_name,
            ).where(pairs_in(Identity.channel, Identity.address, keys))
        )
        for row in rows:
            senders[(row.channel, row.address)] = _Sender(row.customer_id, row.id)
            if not row.display_name:
                unnamed.append((row.id, (row.channel, row.address)))
    firsts = {}
    for message in messages:
        firsts.setdefault(_sender_key(message), message)
    await _name_identities(session, unnamed, firsts)
    newcomers = [(key, m) for key, m in firsts.items() if key not in senders]
    if not newcomers:
        return senders
    customer_ids = (
        await session.scalars(
            insert(Customer.__table__).returning(Customer.id, sort_by_parameter_order=True),
            [
                {
                    "name": (m.sender_name or address)[:200],
                    "email": address if channel == "email" else None,
                    "language": m.language,
                    "created_at": now,
                }
                for (channel, address), m in newcomers
            ],
        )
    ).all()
    identity_rows = await session.execute(
        insert(Identity.__table__).returning(Identity.id, Identity.channel, Identity.address),
        [
            {
                "customer_id": customer_id,
                "channel": channel,
                "address": address,
                "display_name": m.sender_name[:200],
                "created_at": now,
            }
            for ((channel, address), m), customer_id in zip(newcomers, customer_ids, strict=True)
        ],
    )
    customer_of = {key: cid for (key, _), cid in zip(newcomers, customer_ids, strict=True)}
    for row in identity_rows:
        key = (row.channel, row.address)
        senders[key] = _Sender(customer_of[key], row.id)
    return senders


async def _name_identities(
    session: AsyncSession,
    unnamed: list[tuple[int, tuple[str, str]]],
    firsts: dict[tuple[str, str], InboundMessage],
) -> None:
    """An identity first seen without a name takes the first name a message brings."""
    for identity_id, key in unnamed:
        name = firsts[key].sender_name
        if name:
            await session.execute(
                update(Identity)
                .where(Identity.id == identity_id)
                .values(display_name=name[:200])
                .execution_options(**NO_SYNC)
            )


async def _decisions(
    session: AsyncSession,
    messages: Sequence[InboundMessage],
    senders: dict[tuple[str, str], _Sender],
    now: datetime,
    reopen_window: timedelta,
) -> list[Decision]:
    wanted = [(m, senders[_sender_key(m)].customer_id) for m in messages]
    latest, hinted = await candidates(session, wanted)
    return [
        decide(m, customer_id, position, latest, hinted, now=now, reopen_window=reopen_window)
        for position, (m, customer_id) in enumerate(wanted)
    ]


async def _write_tickets(
    session: AsyncSession,
    messages: Sequence[InboundMessage],
    senders: dict[tuple[str, str], _Sender],
    decisions: list[Decision],
    now: datetime,
) -> tuple[list[int], dict[int, tuple[int, str, int]]]:
    """Open the new tickets and update the continued and reopened ones. Returns each message's
    ticket id, and for every new ticket its customer, channel and first message's position."""
    opening: dict[tuple[object, ...], int] = {}
    for position, decision in enumerate(decisions):
        if decision.choice == Choice.NEW:
            opening.setdefault(decision.conversation, position)
    created: dict[int, tuple[int, str, int]] = {}
    new_ids: dict[tuple[object, ...], int] = {}
    if opening:
        firsts = list(opening.items())
        rows = [
            {
                "subject": subject_from(messages[p]),
                "status": TicketStatus.NEW,
                "channel": messages[p].channel,
                "customer_id": senders[_sender_key(messages[p])].customer_id,
                "created_at": now,
                "updated_at": now,
                "last_customer_message_at": now,
            }
            for _, p in firsts
        ]
        ids = (
            await session.scalars(
                insert(Ticket.__table__).returning(Ticket.id, sort_by_parameter_order=True), rows
            )
        ).all()
        for (conversation, position), ticket_id, row in zip(firsts, ids, rows, strict=True):
            new_ids[conversation] = ticket_id
            created[ticket_id] = (row["customer_id"], row["channel"], position)
    ticket_ids = [
        decision.ticket.id if decision.ticket is not None else new_ids[decision.conversation]
        for decision in decisions
    ]
    to_open = {
        d.ticket.id
        for d in decisions
        if d.ticket is not None
        and (
            d.choice == Choice.REOPEN
            or (d.choice == Choice.CONTINUE and d.ticket.status == TicketStatus.PENDING)
        )
    }
    if to_open:
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(to_open))
            .values(status=TicketStatus.OPEN, resolved_at=None)
            .execution_options(**NO_SYNC)
        )
    touched = {
        d.ticket.id for d in decisions if d.ticket is not None and d.choice != Choice.FEEDBACK
    }
    if touched:
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(touched))
            .values(updated_at=now, last_customer_message_at=now)
            .execution_options(**NO_SYNC)
        )
    return ticket_ids, created


async def _insert_messages(
    session: AsyncSession,
    messages: Sequence[InboundMessage],
    senders: dict[tuple[str, str], _Sender],
    ticket_ids: list[int],
    now: datetime,
) -> dict[tuple[str, str], int]:
    if not messages:
        return {}
    rows = [
        {
            "ticket_id": ticket_id,
            "direction": Direction.IN,
            "author_type": AuthorType.CUSTOMER,
            "customer_id": senders[_sender_key(m)].customer_id,
            "identity_id": senders[_sender_key(m)].identity_id,
            "channel": m.channel,
            "external_id": m.external_id,
            "text": m.text,
            "html": clean_html(m.html),
            "created_at": now,
            "sent_at": m.sent_at,
            "payload": m.payload,
        }
        for m, ticket_id in zip(messages, ticket_ids, strict=True)
    ]
    # (channel, external_id) is unique, so ids map back without relying on row order.
    result = await session.execute(
        insert(Message.__table__).returning(Message.id, Message.channel, Message.external_id), rows
    )
    return {(r.channel, r.external_id): r.id for r in result}


async def _insert_attachments(
    session: AsyncSession,
    messages: Sequence[InboundMessage],
    hashes: Sequence[Sequence[str]],
    message_ids: dict[tuple[str, str], int],
) -> None:
    rows = [
        {
            "message_id": message_ids[_key(m)],
            "filename": attachment.filename[:255],
            "content_type": attachment.content_type[:255],
            "size": len(attachment.data),
            "sha256": digest,
            "inline": attachment.inline,
        }
        for m, digests in zip(messages, hashes, strict=True)
        for attachment, digest in zip(m.attachments, digests, strict=True)
    ]
    if rows:
        await session.execute(insert(Attachment.__table__), rows)


def _audit_row(
    at: datetime,
    actor_type: AuthorType,
    actor_id: int | None,
    ticket_id: int,
    action: str,
    **detail: Any,
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "ticket_id": ticket_id,
        "action": action,
        "detail": detail,
    }
