"""Erasing tickets' content while keeping the rows that reports count.

Shared by a customer's erasure (`erasure.py`) and by retention (`retention.py`). What stays:
tickets (channel, status, kind, priority, dates, satisfaction score), messages (direction,
author, channel, timestamps, delivery state), and every other row that points at them. What
goes: subjects, message text and HTML, attachments (and their bytes, when nothing else points
at them), the text of everything said about the ticket (notes, remedies, reasons that quote the
customer, the audit trail's words) and the channel's own records of addresses and headers
(`ChannelEraser`, given by the composition root: the core knows no channel).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.conversation.models import Acknowledgement
from helpdesk.storage.attachments import AttachmentBlob
from helpdesk.storage.base import Base
from helpdesk.storage.event_log import StoredEvent
from helpdesk.tickets.models import Attachment, Message, Ticket

ERASED = "(erased)"
# Keys of audit and decision details that hold words of the helpdesk's own vocabulary, not
# anybody's: kept so that reports and the audit trail still say what happened.
KEPT_DETAIL_KEYS = frozenset(
    {
        "channel",
        "status",
        "from_status",
        "to_status",
        "kind",
        "priority",
        "direction",
        "outcome",
        "state",
        "level",
        "by",
        "source",
        "root_cause",
        "answer",
        "strategy",
        "trigger",
    }
)
# Rows of these are handled one by one below; every other table that points at a ticket or a
# message has its free text blanked by the generic pass.
_EXPLICIT = frozenset({"tickets", "messages", "attachments", "events", "acknowledgements"})
CHUNK = 500


@dataclass(slots=True)
class ContentScope:
    """What is being erased: tickets and messages, and, for a customer's erasure, the
    addresses they were known by (channel, address), before they were erased."""

    ticket_ids: list[int]
    message_ids: list[int]
    now: datetime
    customer_id: int | None = None
    addresses: list[tuple[str, str]] = field(default_factory=list)
    # Digests whose attachment rows went: their bytes go too when nothing else names them.
    digests: set[str] = field(default_factory=set)
    # Digests whose bytes were deleted: the caller removes legacy files of them after commit.
    removed_digests: set[str] = field(default_factory=set)


# A channel's part: erase its own rows for the scope (addresses, headers, raw updates) and add
# to `scope.digests` any stored file of its own it let go.
ChannelEraser = Callable[[AsyncSession, ContentScope], Awaitable[None]]


async def message_ids_of(session: AsyncSession, ticket_ids: Sequence[int]) -> list[int]:
    found: list[int] = []
    for chunk in _chunks(ticket_ids):
        found += await session.scalars(select(Message.id).where(Message.ticket_id.in_(chunk)))
    return found


async def erase_content(
    session: AsyncSession, scope: ContentScope, erasers: Iterable[ChannelEraser] = ()
) -> None:
    """Erase the content of `scope` in the caller's transaction."""
    sqlite = (await session.connection()).dialect.name == "sqlite"
    if sqlite:
        # Every page this frees is overwritten with zeros, not left in the file for a disk
        # reader (large files' overflow pages included); back to FAST (`storage/database.py`).
        await session.execute(text("PRAGMA secure_delete = ON"))
    for eraser in erasers:
        await eraser(session, scope)
    for chunk in _chunks(scope.message_ids):
        scope.digests.update(
            await session.scalars(select(Attachment.sha256).where(Attachment.message_id.in_(chunk)))
        )
        await session.execute(delete(Attachment).where(Attachment.message_id.in_(chunk)))
        await session.execute(
            update(Message)
            .where(Message.id.in_(chunk))
            .values(text="", html=None, quick_replies=None, delivery_error=None)
            .execution_options(synchronize_session=False)
        )
        await _anonymise_external_ids(session, chunk)
        await _blank_event_texts(session, chunk)
    for chunk in _chunks(scope.ticket_ids):
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(chunk))
            .values(subject=ERASED, content_erased_at=scope.now)
            .execution_options(synchronize_session=False)
        )
        for ack in await session.scalars(
            select(Acknowledgement).where(Acknowledgement.ticket_id.in_(chunk))
        ):
            ack.address = _pseudonym(ack.address)
    await _blank_linked_text(session, scope)
    await _drop_unreferenced_blobs(session, scope)
    if sqlite:
        await session.flush()
        await session.execute(text("PRAGMA secure_delete = FAST"))


async def _anonymise_external_ids(session: AsyncSession, message_ids: list[int]) -> None:
    """A channel's message id can hold an address (an email's Message-ID): it becomes its hash,
    which still tells a repeated delivery apart, so nothing is stored twice."""
    rows = await session.execute(
        select(Message.id, Message.external_id).where(
            Message.id.in_(message_ids), Message.external_id.is_not(None)
        )
    )
    changes = [
        {"id": message_id, "external_id": _pseudonym(external_id)}
        for message_id, external_id in rows
        if external_id is not None and not external_id.startswith("erased:")
    ]
    if changes:
        # One statement run for every row (an ORM bulk update by primary key).
        await session.execute(update(Message), changes)


def _pseudonym(value: str) -> str:
    if value.startswith("erased:"):
        return value
    return "erased:" + hashlib.sha256(value.encode()).hexdigest()[:40]


async def _blank_event_texts(session: AsyncSession, message_ids: list[int]) -> None:
    """A received message's event carries its text until the log is pruned."""
    events = await session.scalars(
        select(StoredEvent).where(
            StoredEvent.type == "MessageReceived",
            StoredEvent.payload["message_id"].as_integer().in_(message_ids),
        )
    )
    for event in events:
        if event.payload.get("text"):
            event.payload = {**event.payload, "text": ""}


def _linked_tables() -> list[tuple[Table, Column[Any]]]:
    """Every table (but the ones handled by name) with a column pointing at a ticket or a
    message: found from the schema, so a table added later is erased too. A table pointing at
    both is read by its ticket: the scope's messages are on the scope's tickets."""
    linked = []
    for table in Base.metadata.sorted_tables:
        if table.name in _EXPLICIT:
            continue
        columns = {
            fk.column.table.name: column
            for column in table.columns
            for fk in column.foreign_keys
            if fk.column.table.name in ("tickets", "messages")
        }
        if "tickets" in columns:
            linked.append((table, columns["tickets"]))
        elif "messages" in columns:
            linked.append((table, columns["messages"]))
    return linked


async def _blank_linked_text(session: AsyncSession, scope: ContentScope) -> None:
    for table, column in _linked_tables():
        ids = scope.ticket_ids if _points_at(column, "tickets") else scope.message_ids
        texts = [c for c in table.columns if isinstance(c.type, Text) and not c.primary_key]
        details = [c for c in table.columns if isinstance(c.type, JSON)]
        if not texts and not details:
            continue
        for chunk in _chunks(ids):
            if texts:
                await session.execute(
                    table.update()
                    .where(column.in_(chunk))
                    .values({c.name: None if c.nullable else "" for c in texts})
                )
            for c in details:
                keys = [k.name for k in table.primary_key.columns]
                rows = await session.execute(
                    select(*table.primary_key.columns, c).where(column.in_(chunk))
                )
                for row in rows:
                    scrubbed = scrub(row[-1])
                    if scrubbed != row[-1]:
                        where = [table.c[k] == row[i] for i, k in enumerate(keys)]
                        await session.execute(
                            table.update().where(*where).values({c.name: scrubbed})
                        )


def _points_at(column: Column[Any], table: str) -> bool:
    return any(fk.column.table.name == table for fk in column.foreign_keys)


def scrub(value: Any, key: str | None = None) -> Any:
    """A JSON detail with every string replaced by ERASED but those of KEPT_DETAIL_KEYS."""
    if isinstance(value, dict):
        return {k: scrub(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    if isinstance(value, str) and value and key not in KEPT_DETAIL_KEYS:
        return ERASED
    return value


async def _drop_unreferenced_blobs(session: AsyncSession, scope: ContentScope) -> None:
    """Delete the bytes of the scope's files that no row names any more (another customer
    may have sent the same file: then it stays)."""
    if not scope.digests:
        return
    await session.flush()
    naming = [
        table.c.sha256
        for table in Base.metadata.sorted_tables
        if "sha256" in table.c and table.name != AttachmentBlob.__tablename__
    ]
    digests = sorted(scope.digests)
    for start in range(0, len(digests), CHUNK):
        chunk = digests[start : start + CHUNK]
        named: set[str] = set()
        for column in naming:
            named.update(await session.scalars(select(column).where(column.in_(chunk)).distinct()))
        unnamed = [d for d in chunk if d not in named]
        if unnamed:
            await session.execute(delete(AttachmentBlob).where(AttachmentBlob.sha256.in_(unnamed)))
            scope.removed_digests.update(unnamed)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])
