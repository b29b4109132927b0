"""Storing a batch of arrivals in one transaction with a few set-based statements.

Each message's outcome is what it would be if it had arrived alone: its customer found or created
by identity, a duplicate recognised by (channel, external id), the ticket chosen by
`ticket_choice`. Statements work on whole sets (one INSERT for all messages, one UPDATE for all
touched tickets; `intake_sql` holds them) because per-object and per-statement work in Python,
not the database, was what limited intake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from helpdesk import payloads
from helpdesk.common.sanitize import CONTROL_CHARACTER, clean_html, clean_text
from helpdesk.events.types import (
    TEXT_PREVIEW,
    Event,
    MessageReceived,
    TicketCreated,
    TicketReopened,
)
from helpdesk.intake.statements import (
    AUDIT,
    CUSTOMERS,
    IDENTITIES,
    MESSAGES,
    TICKETS,
    IntakeStatements,
    insert_rows,
    new_ids,
    statements_for,
)
from helpdesk.intake.ticket_choice import Choice, Decision, TicketRow, decide
from helpdesk.messages import InboundMessage
from helpdesk.storage.base import table_of
from helpdesk.tickets.models import Attachment, AuthorType, Direction, TicketStatus

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


def sender_key(message: InboundMessage) -> tuple[str, str]:
    return message.channel, normalise_address(message.channel, message.sender)


@dataclass(slots=True)
class _Senders:
    """Who sent the batch's messages: customer and identity per (channel, address)."""

    known: dict[tuple[str, str], _Sender]
    # First-time senders, each with its first message; their rows are inserted later.
    newcomers: list[tuple[tuple[str, str], InboundMessage]]
    # Each known sender's latest ticket per channel.
    latest: dict[tuple[int, str], TicketRow]


async def receive_batch(
    session: AsyncSession | AsyncConnection,
    messages: Sequence[InboundMessage],
    *,
    now: datetime,
    reopen_window: timedelta,
    attachment_hashes: Sequence[Sequence[str]] | None = None,
) -> tuple[list[Receipt], list[Event]]:
    """Store each message once; must run inside a transaction the caller commits."""
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    sql = statements_for(connection.dialect.name)
    messages = [_cleaned(m) for m in messages]
    hashes = list(attachment_hashes) if attachment_hashes else [()] * len(messages)
    stored = await _already_stored(connection, sql, messages)
    fresh: dict[tuple[str, str], int] = {}
    for index, message in enumerate(messages):
        if _key(message) not in stored and _key(message) not in fresh:
            fresh[_key(message)] = index
    new = [messages[i] for i in fresh.values()]
    found = await _find_senders(connection, sql, new)
    # Until their rows exist, first-time senders stand as negative customer ids: distinct from
    # each other and from every real customer, so each gets a conversation of its own.
    customer_of = {key: sender.customer_id for key, sender in found.known.items()}
    for number, (key, _) in enumerate(found.newcomers, start=1):
        customer_of[key] = -number
    decisions = await _decisions(
        connection, sql, new, customer_of, found.latest, now, reopen_window
    )
    opening = _conversations_to_open(decisions)
    ids = await new_ids(
        connection,
        {
            CUSTOMERS: len(found.newcomers),
            IDENTITIES: len(found.newcomers),
            TICKETS: len(opening),
            MESSAGES: len(new),
        },
    )
    senders = await _insert_newcomers(connection, found, ids, now)
    ticket_ids, created = await _write_tickets(
        connection, sql, new, senders, decisions, opening, ids[TICKETS], now
    )
    message_ids = await _insert_messages(connection, new, senders, ticket_ids, ids[MESSAGES], now)
    await _insert_attachments(connection, new, [hashes[i] for i in fresh.values()], message_ids)

    events: list[Event] = []
    audits: list[dict[str, Any]] = []
    for ticket_id, (customer_id, channel, first) in created.items():
        automatic = new[first].automatic
        events.append(
            TicketCreated(ticket_id, customer_id, channel, automatic[:200] if automatic else None)
        )
        audits.append(
            _audit_row(
                now, AuthorType.CUSTOMER, customer_id, ticket_id, "ticket.created", channel=channel
            )
        )
    hours = reopen_window.total_seconds() / 3600
    reason = f"the customer wrote again within {hours:g} h of resolution"
    # Each ticket once, in the order of the batch: several messages may reopen the same one.
    reopened = dict.fromkeys(
        d.ticket.id for d in decisions if d.choice == Choice.REOPEN and d.ticket is not None
    )
    for ticket_id in reopened:
        events.append(TicketReopened(ticket_id))
        audits.append(
            _audit_row(now, AuthorType.SYSTEM, None, ticket_id, "ticket.reopened", reason=reason)
        )
    if audits:
        await connection.execute(insert(AUDIT), audits)

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
        customer_id = senders[sender_key(message)].customer_id
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
        events.append(
            MessageReceived(
                ticket_id,
                message_id,
                customer_id,
                message.channel,
                message.text[:TEXT_PREVIEW],
                message.payload,
                opened_ticket=first_of_new,
                automatic=message.automatic[:200] if message.automatic else None,
            )
        )
    return receipts, events


def _cleaned(message: InboundMessage) -> InboundMessage:
    """Every text field without control characters; channels need not remember to do it."""
    fields = (message.external_id, message.sender, message.sender_name, message.text)
    extra = (message.html or "", message.subject or "", message.payload or "")
    too_long = message.payload is not None and len(message.payload) > payloads.MAX_LENGTH
    if not too_long and not any(CONTROL_CHARACTER.search(f) for f in (*fields, *extra)):
        return message  # the usual case, and a copy costs more than the search
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
    connection: AsyncConnection, sql: IntakeStatements, messages: Sequence[InboundMessage]
) -> dict[tuple[str, str], tuple[int, int, int]]:
    stored: dict[tuple[str, str], tuple[int, int, int]] = {}
    for channel, external_ids in _by_channel(_key(m) for m in messages).items():
        rows = await connection.execute(sql.stored, {"channel": channel, "keys": external_ids})
        for row in rows:
            stored[(channel, row.external_id)] = (row.id, row.ticket_id, row.customer_id)
    return stored


async def _find_senders(
    connection: AsyncConnection, sql: IntakeStatements, messages: Sequence[InboundMessage]
) -> _Senders:
    """Each known sender's customer, identity and latest ticket on the channel (one statement per
    channel); names identities that had none; lists the first-time senders."""
    known: dict[tuple[str, str], _Sender] = {}
    latest: dict[tuple[int, str], TicketRow] = {}
    unnamed: list[tuple[int, tuple[str, str]]] = []
    for channel, addresses in _by_channel(sender_key(m) for m in messages).items():
        rows = await connection.execute(sql.known_senders, {"channel": channel, "keys": addresses})
        for row in rows:
            known[(channel, row.address)] = _Sender(row.customer_id, row.id)
            if not row.display_name:
                unnamed.append((row.id, (channel, row.address)))
            if row.ticket_id is not None:
                latest[(row.customer_id, channel)] = TicketRow(
                    row.ticket_id, row.customer_id, channel, row.status, row.resolved_at
                )
    firsts: dict[tuple[str, str], InboundMessage] = {}
    for message in messages:
        firsts.setdefault(sender_key(message), message)
    names = [
        {"identity_id": identity_id, "name": firsts[key].sender_name[:200]}
        for identity_id, key in unnamed
        if firsts[key].sender_name
    ]
    if names:
        # An identity first seen without a name takes the first name a message brings.
        await connection.execute(sql.name_identity, names)
    newcomers = [(key, m) for key, m in firsts.items() if key not in known]
    return _Senders(known, newcomers, latest)


def _by_channel(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = {}
    for channel, value in pairs:
        grouped.setdefault(channel, set()).add(value)
    return {channel: sorted(values) for channel, values in grouped.items()}


async def _insert_newcomers(
    connection: AsyncConnection, found: _Senders, ids: dict[Table, list[int]], now: datetime
) -> dict[tuple[str, str], _Sender]:
    """A customer and an identity for each first-time sender; returns every sender."""
    senders = dict(found.known)
    if not found.newcomers:
        return senders
    customers, identities = [], []
    for ((channel, address), m), customer_id, identity_id in zip(
        found.newcomers, ids[CUSTOMERS], ids[IDENTITIES], strict=True
    ):
        customers.append(
            {
                "id": customer_id,
                "name": (m.sender_name or address)[:200],
                "email": address if channel == "email" else None,
                "language": m.language,
                "created_at": now,
            }
        )
        identities.append(
            {
                "id": identity_id,
                "customer_id": customer_id,
                "channel": channel,
                "address": address,
                "display_name": m.sender_name[:200],
                "created_at": now,
            }
        )
        senders[(channel, address)] = _Sender(customer_id, identity_id)
    await insert_rows(connection, CUSTOMERS, customers)
    await insert_rows(connection, IDENTITIES, identities)
    return senders


async def _decisions(
    connection: AsyncConnection,
    sql: IntakeStatements,
    messages: Sequence[InboundMessage],
    customer_of: dict[tuple[str, str], int],
    latest: dict[tuple[int, str], TicketRow],
    now: datetime,
    reopen_window: timedelta,
) -> list[Decision]:
    hints = sorted({m.ticket_hint for m in messages if m.ticket_hint is not None})
    hinted: dict[int, TicketRow] = {}
    if hints:
        for row in await connection.execute(sql.hinted_tickets, {"ids": hints}):
            hinted[row.hint] = TicketRow(*row[1:])
    return [
        decide(
            m,
            customer_of[sender_key(m)],
            position,
            latest,
            hinted,
            now=now,
            reopen_window=reopen_window,
        )
        for position, m in enumerate(messages)
    ]


def _conversations_to_open(decisions: list[Decision]) -> dict[tuple[object, ...], int]:
    """Each conversation that needs a new ticket, with the position of its first message."""
    opening: dict[tuple[object, ...], int] = {}
    for position, decision in enumerate(decisions):
        if decision.choice == Choice.NEW:
            opening.setdefault(decision.conversation, position)
    return opening


async def _write_tickets(
    connection: AsyncConnection,
    sql: IntakeStatements,
    messages: Sequence[InboundMessage],
    senders: dict[tuple[str, str], _Sender],
    decisions: list[Decision],
    opening: dict[tuple[object, ...], int],
    new_ticket_ids: list[int],
    now: datetime,
) -> tuple[list[int], dict[int, tuple[int, str, int]]]:
    """Open the new tickets and update the continued and reopened ones. Returns each message's
    ticket id, and for every new ticket its customer, channel and first message's position."""
    created: dict[int, tuple[int, str, int]] = {}
    opened_ids: dict[tuple[object, ...], int] = {}
    rows = []
    for (conversation, position), ticket_id in zip(opening.items(), new_ticket_ids, strict=True):
        message = messages[position]
        customer_id = senders[sender_key(message)].customer_id
        rows.append(
            {
                "id": ticket_id,
                "subject": subject_from(message),
                "status": TicketStatus.NEW,
                "channel": message.channel,
                "customer_id": customer_id,
                "created_at": now,
                "updated_at": now,
                "last_customer_message_at": now,
                "entry_point": message.entry_point,
            }
        )
        opened_ids[conversation] = ticket_id
        created[ticket_id] = (customer_id, message.channel, position)
    await insert_rows(connection, TICKETS, rows)
    ticket_ids = [
        decision.ticket.id if decision.ticket is not None else opened_ids[decision.conversation]
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
        await connection.execute(sql.reopen_tickets, {"ids": sorted(to_open)})
    touched = {
        d.ticket.id for d in decisions if d.ticket is not None and d.choice != Choice.FEEDBACK
    }
    if touched:
        # Sorted, so two writers touching the same tickets lock them in the same order.
        await connection.execute(sql.touch_tickets, {"ids": sorted(touched), "now": now})
    return ticket_ids, created


async def _insert_messages(
    connection: AsyncConnection,
    messages: Sequence[InboundMessage],
    senders: dict[tuple[str, str], _Sender],
    ticket_ids: list[int],
    message_ids: list[int],
    now: datetime,
) -> dict[tuple[str, str], int]:
    rows = []
    for m, ticket_id, message_id in zip(messages, ticket_ids, message_ids, strict=True):
        sender = senders[sender_key(m)]
        rows.append(
            {
                "id": message_id,
                "ticket_id": ticket_id,
                "direction": Direction.IN,
                "author_type": AuthorType.CUSTOMER,
                "customer_id": sender.customer_id,
                "identity_id": sender.identity_id,
                "channel": m.channel,
                "external_id": m.external_id,
                "text": m.text,
                "html": clean_html(m.html),
                "created_at": now,
                "sent_at": m.sent_at,
                "payload": m.payload,
            }
        )
    await insert_rows(connection, MESSAGES, rows)
    return {_key(m): message_id for m, message_id in zip(messages, message_ids, strict=True)}


async def _insert_attachments(
    connection: AsyncConnection,
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
        await connection.execute(insert(table_of(Attachment)), rows)


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
