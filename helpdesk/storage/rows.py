"""Inserting ORM-shaped rows with Core statements, on a hot path.

A unit-of-work flush costs far more in Python than the INSERT it sends; where a request writes
a few new rows and nothing else (an agent opening a ticket), building the mapped objects as
usual and inserting their values directly keeps the objects for the answer and drops the flush.
The objects stay transient: nothing the session tracks, nothing it writes again at commit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.storage.base import Base, table_of


@functools.cache
def _returning_id(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


@functools.cache
def _plain(table: Table) -> Insert:
    return insert(table)


def values_of(instance: Base) -> dict[str, Any]:
    """The column values set on a new mapped object; the columns' defaults fill the rest,
    exactly as a flush would."""
    state = instance.__dict__
    return {column: state[key] for key, column in _columns(type(instance)) if key in state}


@functools.cache
def _columns(model: type[Base]) -> tuple[tuple[str, str], ...]:
    """(attribute, column) of each mapped column of the model."""
    return tuple(
        (attribute.key, attribute.columns[0].key) for attribute in inspect(model).column_attrs
    )


async def insert_one(session: AsyncSession, instance: Base) -> int:
    """INSERT the object's row in the session's transaction; sets and returns its new id."""
    table = table_of(type(instance))
    # On the session's connection: the session's own execute adds its ORM layer for nothing.
    connection = await session.connection()
    new_id = int((await connection.execute(_returning_id(table), values_of(instance))).scalar_one())
    instance.id = new_id  # type: ignore[attr-defined]
    return new_id


async def insert_all(session: AsyncSession, instances: Sequence[Base]) -> None:
    """INSERT rows of one model whose ids nobody needs (audit entries, SLA timers): one
    statement for all the rows that set the same attributes."""
    if instances:
        await insert_values(session, type(instances[0]), [values_of(i) for i in instances])


async def insert_values(
    session: AsyncSession, model: type[Base], values: Sequence[dict[str, Any]]
) -> None:
    """`insert_all` for rows given as their column values (`values_of`)."""
    table = table_of(model)
    alike: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in values:
        alike.setdefault(tuple(row), []).append(row)
    connection = await session.connection()
    for batch in alike.values():
        await connection.execute(_plain(table), batch)
