"""`column IN (values)` for a batch of ids, as one statement whatever the batch's size.

Reactions read a round's tickets, customers and timers by id, tens at a time. An IN list is a
parameter per value: SQLAlchemy renders the list anew on every execution, and each new length is
a new statement text that PostgreSQL parses and plans again (asyncpg prepares it on a cache
miss). On PostgreSQL the values go as one array parameter (`= ANY($1)`), so the text never
changes and is prepared once per connection; SQLite has no arrays and keeps the IN list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute


def among(
    session: AsyncSession,
    column: QueryableAttribute[Any] | ColumnElement[Any],
    values: Iterable[Any],
) -> ColumnElement[bool]:
    """`column IN values`, on the dialect `session` is bound to."""
    listed = list(values)
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    return column.in_(listed)
