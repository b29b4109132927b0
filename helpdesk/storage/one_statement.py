"""New rows and their events written as one statement, on PostgreSQL.

A request that only adds rows (an agent logging a call on a new ticket) spends far more on
round trips, BEGIN and COMMIT and per-statement Python than PostgreSQL spends on the rows. Here
the rows, with their ids drawn beforehand (`draw_ids`, so that events and audit entries can name
them), go in as one data-modifying WITH together with the locked event append
(`event_log.locked_append_and_notify`). The caller runs it in autocommit (on the connection of
`Database.autocommit_session`): a single statement is its own transaction, so the rows and their
events commit together or not at all. A unique or foreign key violation fails the whole
statement as any transaction would, with the same IntegrityError.

The statement's text depends only on its shape (which tables, how many rows, which columns),
so asyncpg prepares each shape once per connection.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, bindparam, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from helpdesk.storage import driver_statement
from helpdesk.storage.base import Base, table_of
from helpdesk.storage.event_log import append_parameters, locked_append_and_notify
from helpdesk.storage.rows import values_of

# (table, the columns given, how many rows) for each table, in the order first met.
Shape = tuple[tuple[Table, tuple[str, ...], int], ...]


async def draw_ids(
    connection: AsyncConnection, counts: dict[type[Base], int]
) -> dict[type[Base], list[int]]:
    """Ids from each model's sequence, in one round trip; sequences are not transactional, so
    an id drawn for a statement that then fails is just skipped."""
    wanted = {model: count for model, count in counts.items() if count > 0}
    drawn: dict[type[Base], list[int]] = {model: [] for model in counts}
    if not wanted:
        return drawn
    tables = tuple(table_of(model).name for model in wanted)
    parameters = {f"n{index}": count for index, count in enumerate(wanted.values())}
    by_name = {table_of(model).name: model for model in wanted}
    for name, new_id in await driver_statement.fetch(
        connection, _draw_statement(tables), parameters
    ):
        drawn[by_name[name]].append(int(new_id))
    for ids in drawn.values():
        ids.sort()
    return drawn


@functools.cache
def _draw_statement(tables: tuple[str, ...]) -> Any:
    parts = [
        f"SELECT '{name}' AS name, nextval(pg_get_serial_sequence('{name}', 'id')) AS id "
        f"FROM generate_series(1, CAST(:n{index} AS integer))"
        for index, name in enumerate(tables)
    ]
    return text(" UNION ALL ".join(parts))


async def insert_with_events(
    connection: AsyncConnection, rows: Sequence[Base], events: Sequence[object], now: datetime
) -> None:
    """INSERT the new mapped objects and append the events, as one statement. The inserts run
    in no set order: give ids (`draw_ids`) to rows whose order matters or that others name.
    Objects of one model must set the same attributes."""
    sync = connection.sync_connection
    if sync is None or sync.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        # In a transaction the rows would wait for a commit nobody sends.
        raise RuntimeError("insert_with_events needs an autocommit connection")
    grouped: dict[Table, list[dict[str, Any]]] = {}
    for row in rows:
        table = table_of(type(row))
        grouped.setdefault(table, []).append(_with_defaults(table, values_of(row)))
    shape: list[tuple[Table, tuple[str, ...], int]] = []
    parameters: dict[str, Any] = {}
    for index, (table, values) in enumerate(grouped.items()):
        columns = tuple(values[0])
        if any(tuple(value) != columns for value in values):
            raise ValueError(f"rows of {table.name} set different columns")
        shape.append((table, columns, len(values)))
        for names, value in zip(_row_names(index, columns, len(values)), values, strict=True):
            parameters.update(zip(names, map(value.__getitem__, columns), strict=True))
    if events:
        parameters.update(append_parameters(events, now))
    await driver_statement.fetch(connection, _statement(tuple(shape), bool(events)), parameters)


def _with_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """The columns' Python-side defaults filled in: in a many-row VALUES with its own bound
    parameters SQLAlchemy would send NULL for them. Server defaults are left to the server."""
    for key, default in _defaults(table):
        if key not in values:
            values[key] = default.arg(None) if default.is_callable else default.arg
    return values


@functools.cache
def _defaults(table: Table) -> tuple[tuple[str, Any], ...]:
    """(column, its Python-side default) for the columns that have one."""
    return tuple(
        (column.key, column.default)
        for column in table.c
        if column.default is not None and (column.default.is_scalar or column.default.is_callable)
    )


def _name(table_index: int, row: int, column: str) -> str:
    return f"t{table_index}_{row}_{column}"


@functools.cache
def _row_names(
    table_index: int, columns: tuple[str, ...], count: int
) -> tuple[tuple[str, ...], ...]:
    """Each row's parameter names, in the order of `columns`."""
    return tuple(
        tuple(_name(table_index, row, column) for column in columns) for row in range(count)
    )


@functools.cache
def _statement(shape: Shape, with_events: bool) -> Select[Any]:
    # One single-row INSERT each: SQLAlchemy does not cache a many-row VALUES statement, and
    # compiling this one anew would cost more than everything it saves.
    inserts = [
        insert(table)
        .values(
            {
                column: bindparam(_name(index, number, column), type_=table.c[column].type)
                for column in columns
            }
        )
        .cte(f"added_{table.name}_{number}")
        for index, (table, columns, count) in enumerate(shape)
        for number in range(count)
    ]
    final = locked_append_and_notify() if with_events else select(literal(1))
    # Unreferenced data-modifying CTEs still run once each; `add_cte` renders them.
    return final.add_cte(*inserts)
