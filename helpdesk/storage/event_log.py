"""The durable event log: events are rows written in the transaction that caused them.

Code that changes something records its events on the session (`record`); the transaction
appends them just before it commits (`Database.transaction`), so a change and its events are
committed together or not at all. The dispatcher (`helpdesk.events.dispatcher`) reads them after
the commit.

Ids must become visible in order, or a reader could pass over an event whose transaction commits
late. On SQLite writers are serialised anyway. On PostgreSQL ids come from a sequence in whatever
order transactions ask, so appending takes a transaction-scoped advisory lock: ids are handed out
under it and it is held until commit, which makes the committed ids a prefix at every moment.
The lock is taken last in the transaction, so it is held only for the insert and the commit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Select,
    String,
    Text,
    bindparam,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId, table_of

# Any constant works; it only has to be the same in every helpdesk process.
APPEND_LOCK_KEY = 0x48455654
NOTIFY_CHANNEL = "helpdesk_events"
_PENDING = "helpdesk.events"


class StoredEvent(Base):
    """One fact, as recorded: its type's name and its fields as JSON."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class ReactionCheckpoint(Base):
    """How far one named reaction has handled the log; its row is also its claim."""

    __tablename__ = "reaction_checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime]


class ReactionFailure(Base):
    """An event a reaction gave up on after its retries, with the error, for an operator."""

    __tablename__ = "reaction_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reaction: Mapped[str] = mapped_column(String(64), index=True)
    # No foreign key: the event itself may be pruned while the failure is kept.
    event_id: Mapped[int] = mapped_column(BigId)
    event_type: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


EVENTS = table_of(StoredEvent)


def record(session: AsyncSession, *events: object) -> None:
    """Record events to be committed with the session's transaction (`Database.transaction`)."""
    session.info.setdefault(_PENDING, []).extend(events)


def take_recorded(session: AsyncSession) -> list[object]:
    return session.info.pop(_PENDING, [])


def encode(event: object) -> tuple[str, dict[str, Any]]:
    """An event dataclass as (type name, JSON-able fields). Its fields are plain values
    (`events/types.py`), so they are read as they are: `dataclasses.asdict` would copy every
    value recursively, at a cost felt on the hottest writes."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        raise TypeError(f"an event must be a dataclass instance, not {event!r}")
    kind = type(event)
    return kind.__name__, {name: getattr(event, name) for name in _field_names(kind)}


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


async def append(connection: AsyncConnection, events: Sequence[object], now: datetime) -> None:
    """Write events in the caller's transaction; call it last, right before the commit."""
    if not events:
        return
    if connection.dialect.name != "postgresql":
        rows = [encode(event) for event in events]
        await connection.execute(
            insert(EVENTS),
            [{"type": name, "payload": payload, "created_at": now} for name, payload in rows],
        )
        return
    await connection.execute(locked_append_and_notify(), append_parameters(events, now))


def append_parameters(events: Sequence[object], now: datetime) -> dict[str, Any]:
    """The parameters of `locked_append_and_notify` for these events."""
    rows = [encode(event) for event in events]
    return {
        "key": APPEND_LOCK_KEY,
        "types": [name for name, _ in rows],
        "payloads": [payload for _, payload in rows],
        "created_at": now,
        "channel": NOTIFY_CHANNEL,
        "names": ",".join(type_names(events)),
    }


@functools.cache
def locked_append_and_notify() -> Select[Any]:
    """The lock, the rows and the NOTIFY in one statement (one round trip, not three):

        WITH locked AS (SELECT pg_advisory_xact_lock(:key)),
             appended AS (INSERT INTO events ... SELECT ... FROM unnest(...) JOIN locked ON true
                          RETURNING id)
        SELECT pg_notify(:channel, :names) FROM (SELECT count(*) FROM appended) AS done

    No row reaches the INSERT before the join has read `locked`, so the lock is held before the
    first id is drawn from the sequence; the NOTIFY runs after the INSERT has finished, and is
    delivered at commit (nothing is sent if the transaction rolls back). It names the event
    types, so only the reactions that handle them wake up. Whatever the number of events the
    statement is the same, so asyncpg prepares it once; each payload goes through the JSON
    type's own serialisation as an array element."""
    locked = select(func.pg_advisory_xact_lock(bindparam("key")).label("held")).cte("locked")
    types = bindparam("types", type_=ARRAY(EVENTS.c.type.type))
    payloads = bindparam("payloads", type_=ARRAY(EVENTS.c.payload.type))
    rows = func.unnest(types, payloads).table_valued("type", "payload").render_derived("rows")
    appended = (
        insert(EVENTS)
        .from_select(
            ["type", "payload", "created_at"],
            select(
                rows.c.type,
                rows.c.payload,
                bindparam("created_at", type_=EVENTS.c.created_at.type),
            )
            .select_from(rows)
            .join(locked, true()),
        )
        .returning(EVENTS.c.id)
        .cte("appended")
    )
    done = select(func.count().label("events")).select_from(appended).subquery("done")
    return select(func.pg_notify(bindparam("channel"), bindparam("names"))).select_from(done)


def type_names(events: Sequence[object]) -> list[str]:
    return sorted({type(event).__name__ for event in events})


async def latest_id(connection: AsyncConnection | AsyncSession) -> int:
    return int(await connection.scalar(select(func.coalesce(func.max(EVENTS.c.id), 0))) or 0)
