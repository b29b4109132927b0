"""The statements intake runs, built once per database kind, and the ids of the rows it adds.

Intake's statements are SQLAlchemy Core on plain tables, not ORM: per-statement ORM overhead cost
more than the database's own work (docs/benchmarks.md). Lists are bound so that each statement's
text is the same whatever the batch size: `IN (…)` expanded on SQLite, one array on
PostgreSQL, where every new text would be prepared anew by asyncpg. For the same reason rows go
into PostgreSQL as one `INSERT … SELECT FROM unnest(arrays)`: asyncpg's executemany runs the
insert once per row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Insert,
    Select,
    Table,
    TextClause,
    Update,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from helpdesk.customers.models import Customer, Identity
from helpdesk.storage.base import table_of
from helpdesk.tickets.models import AuditEntry, Message, Ticket, TicketStatus

CUSTOMERS = table_of(Customer)
IDENTITIES = table_of(Identity)
TICKETS = table_of(Ticket)
MESSAGES = table_of(Message)
AUDIT = table_of(AuditEntry)

# The tables intake adds rows to without a natural key; their ids are handed out up front.
ID_TABLES = (CUSTOMERS, IDENTITIES, TICKETS, MESSAGES)


@dataclass(frozen=True)
class IntakeStatements:
    stored: Select[Any]
    known_senders: Select[Any]
    hinted_tickets: Select[Any]
    name_identity: Update
    reopen_tickets: Update
    touch_tickets: Update
    new_ids: Select[Any] | TextClause


@functools.cache
def statements_for(dialect: str) -> IntakeStatements:
    postgresql = dialect == "postgresql"

    def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
        if postgresql:
            values: BindParameter[Any] = bindparam(name, type_=ARRAY(column.type))
            return column == any_(values)
        return column.in_(bindparam(name, expanding=True))

    latest_ticket = (
        select(func.max(TICKETS.c.id))
        .where(
            TICKETS.c.customer_id == IDENTITIES.c.customer_id,
            TICKETS.c.channel == IDENTITIES.c.channel,
            # A merged ticket lives on in its survivor: a chat continues the ticket before it.
            TICKETS.c.merged_into_id.is_(None),
        )
        .correlate(IDENTITIES)
        .scalar_subquery()
    )

    def by_keys(query: Select[Any], column: ColumnElement[Any]) -> Select[Any]:
        """`query` for each of the bound "keys" in `column` (unique together with channel)."""
        if not postgresql:
            return query.where(column.in_(bindparam("keys", expanding=True)))
        # One index probe per key. With `= ANY(keys)` the planner, short of statistics (a new or
        # fast-growing table), scanned every row of the channel instead; LIMIT 1 keeps the
        # lateral subquery from being flattened into a join it could plan the same way.
        keys = bindparam("keys", type_=ARRAY(column.type))
        wanted = func.unnest(keys).table_valued("key").render_derived(name="wanted")
        match = query.where(column == wanted.c.key).limit(1).lateral("match")
        return select(*match.c).select_from(wanted).join(match, true())

    return IntakeStatements(
        stored=by_keys(
            select(
                MESSAGES.c.external_id, MESSAGES.c.id, MESSAGES.c.ticket_id, TICKETS.c.customer_id
            )
            .join(TICKETS, TICKETS.c.id == MESSAGES.c.ticket_id)
            .where(MESSAGES.c.channel == bindparam("channel")),
            MESSAGES.c.external_id,
        ),
        # A known sender's latest ticket on the channel comes along: a chat message continues it.
        known_senders=by_keys(
            select(
                IDENTITIES.c.id,
                IDENTITIES.c.address,
                IDENTITIES.c.customer_id,
                IDENTITIES.c.display_name,
                TICKETS.c.id.label("ticket_id"),
                TICKETS.c.status,
                TICKETS.c.resolved_at,
            )
            .outerjoin(TICKETS, TICKETS.c.id == latest_ticket)
            .where(IDENTITIES.c.channel == bindparam("channel")),
            IDENTITIES.c.address,
        ),
        hinted_tickets=_hinted_tickets(one_of),
        name_identity=update(IDENTITIES)
        .where(IDENTITIES.c.id == bindparam("identity_id"))
        .values(display_name=bindparam("name")),
        reopen_tickets=update(TICKETS)
        .where(one_of(TICKETS.c.id, "ids"))
        .values(status=TicketStatus.OPEN, resolved_at=None),
        touch_tickets=update(TICKETS)
        .where(one_of(TICKETS.c.id, "ids"))
        .values(updated_at=bindparam("now"), last_customer_message_at=bindparam("now")),
        new_ids=_sequence_ids() if postgresql else _largest_ids(),
    )


OneOf = Callable[[ColumnElement[Any], str], ColumnElement[bool]]


def _hinted_tickets(one_of: OneOf) -> Select[Any]:
    """The tickets messages name, each as itself or, when merged, as the ticket it was merged
    into: a reply to a merged ticket continues the survivor."""
    named = TICKETS.alias("named")
    return (
        select(
            named.c.id.label("hint"),
            TICKETS.c.id,
            TICKETS.c.customer_id,
            TICKETS.c.channel,
            TICKETS.c.status,
            TICKETS.c.resolved_at,
        )
        .select_from(named)
        .join(TICKETS, TICKETS.c.id == func.coalesce(named.c.merged_into_id, named.c.id))
        .where(one_of(named.c.id, "ids"))
    )


def _largest_ids() -> Select[Any]:
    return select(*(select(func.max(t.c.id)).scalar_subquery().label(t.name) for t in ID_TABLES))


def _sequence_ids() -> TextClause:
    parts = [
        f"SELECT '{t.name}' AS name, nextval(pg_get_serial_sequence('{t.name}', 'id')) AS id "
        f"FROM generate_series(1, CAST(:{t.name} AS integer))"
        for t in ID_TABLES
    ]
    return text(" UNION ALL ".join(parts))


async def new_ids(connection: AsyncConnection, counts: dict[Table, int]) -> dict[Table, list[int]]:
    """Ids for the rows a batch is about to insert, in one statement, so every insert is a plain
    executemany of one cached statement with no RETURNING to keep in order.

    PostgreSQL takes them from each table's sequence. On SQLite writers are serialised, so the
    next ids follow the largest; another process writing meanwhile makes the insert fail and
    intake retries, so ids never mix up."""
    statement = statements_for(connection.dialect.name).new_ids
    taken: dict[Table, list[int]] = {table: [] for table in ID_TABLES}
    if not any(counts.values()):
        return taken
    if connection.dialect.name == "postgresql":
        wanted = {table.name: counts.get(table, 0) for table in ID_TABLES}
        by_name = {table.name: table for table in ID_TABLES}
        for row in await connection.execute(statement, wanted):
            taken[by_name[row.name]].append(row.id)
        for ids in taken.values():
            ids.sort()
        return taken
    largest = (await connection.execute(statement)).one()._mapping
    for table in ID_TABLES:
        first = (largest[table.name] or 0) + 1
        taken[table] = list(range(first, first + counts.get(table, 0)))
    return taken


async def insert_rows(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> None:
    """Insert rows that all have the same keys, in one statement whatever their number."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        await connection.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    await connection.execute(
        _unnest_insert(table, columns), {name: [row[name] for row in rows] for name in columns}
    )


@functools.cache
def _unnest_insert(table: Table, columns: tuple[str, ...]) -> Insert:
    # ARRAY of the column's own type, so each element goes through the type's bind processing
    # (enums to their values, JSON to text) and asyncpg is told the array's type.
    arrays = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in columns]
    unnested = func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")
    return insert(table).from_select(
        list(columns), select(*(unnested.c[name] for name in columns)), include_defaults=True
    )
