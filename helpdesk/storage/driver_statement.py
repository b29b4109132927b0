"""A Core statement compiled once and run straight on asyncpg, for the hottest writes.

SQLAlchemy caches a statement's compiled form, but each execution still walks the statement to
build its cache key, builds the parameters, an execution context and a result, and crosses into
its greenlet and back: for a statement of sixty parameters (`storage/one_statement.py`) that was
a third of the time a phone ticket took the server (py-spy). Here SQLAlchemy compiles the
statement for the connection's dialect once, with its bind casts and each type's own bind
processor, and each execution only lines the values up and hands them to asyncpg, which
prepares the text once per connection. The connection is SQLAlchemy's own (pooled, with its
codecs); a constraint violation comes back as SQLAlchemy's IntegrityError, as from any other
statement, so callers retry it the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverStatement:
    sql: str
    # The parameters in the order of $1, $2, ...: their names, their type's bind processor and
    # the value bound when the statement was built (a literal), if any.
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    bound: tuple[Any, ...]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, process, bound in zip(self.names, self.processors, self.bound, strict=True):
            value = parameters.get(name, bound)
            values.append(value if process is None or value is None else process(value))
        return values


@functools.cache
def compiled(statement: Executable, dialect: Dialect) -> DriverStatement:
    """`statement` for asyncpg; cached, so pass statements that are themselves built once."""
    # Every executable construct (select, insert, text) is also a clause that compiles.
    done = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
    names = tuple(done.positiontup or ())
    binds = [done.binds[name] for name in names]
    if any(bind.expanding for bind in binds):
        raise ValueError("a driver statement cannot expand IN lists")
    return DriverStatement(
        sql=done.string,
        names=names,
        processors=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
        bound=tuple(bind.value if bind.callable is None else bind.callable() for bind in binds),
    )


async def fetch(
    connection: AsyncConnection, statement: Executable, parameters: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Run `statement` and return its rows as tuples: on PostgreSQL straight on the connection's
    asyncpg connection, elsewhere through SQLAlchemy as usual. Read anywhere; write only on an
    autocommit connection (`one_statement` checks): in a transaction that has run nothing yet,
    SQLAlchemy has not begun asyncpg's transaction, and a write here would commit on its own."""
    if connection.dialect.name != "postgresql":
        return (await connection.execute(statement, parameters)).all()
    driver_statement = compiled(statement, connection.dialect)
    arguments = driver_statement.arguments(parameters)
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        records = await driver.fetch(driver_statement.sql, *arguments)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(driver_statement.sql, arguments, exc) from exc
    # A Record indexes and unpacks like a tuple, as SQLAlchemy's rows do.
    return cast(list[Sequence[Any]], records)
