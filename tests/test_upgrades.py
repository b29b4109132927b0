"""Upgrades: a database holding data at each earlier schema revision is upgraded to the newest,
on SQLite and PostgreSQL, and every row is still there (in its table, or in the table that
took its data over); `serve` and `migrate` refuse a database made by a newer helpdesk.

The rows are made from the schema as it stood at that revision (reflected), one per table with
foreign keys pointing at the rows of their parents, and values the current models accept, so
the upgraded rows must also load through the ORM."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    select,
    text,
)
from sqlalchemy import Enum as SqlEnum

from helpdesk.storage.base import Base
from helpdesk.storage.database import Database, SchemaTooNew, alembic_config
from helpdesk.tickets.models import Message, Ticket
from tests.support.cli import run_cli
from tests.support.postgres import free_port

# Tables whose rows a later migration moved into another table.
MOVED = {"email_auto_acks": "acknowledgements"}
KEY = 7  # not 1: a migration may seed a row with id 1 (kb_state)
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _revisions() -> list[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    ordered = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    return ordered[:-1]  # every revision before the newest


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _head_column(table: str, column: str) -> Any:
    model = Base.metadata.tables.get(MOVED.get(table, table))
    return model.columns.get(column) if model is not None else None


def _value(table: Table, column: Any, inserted: dict[str, dict[str, Any]]) -> Any:
    for foreign in column.foreign_keys:
        parent = inserted.get(foreign.column.table.name)
        if parent is not None:
            return parent[foreign.column.name]
        return None  # a parent not yet written (a cycle): nullable by construction
    current = _head_column(table.name, column.name)
    kind = current.type if current is not None else column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    if isinstance(kind, SqlEnum):
        return kind.enums[0]
    if isinstance(kind, JSON):
        return None if column.nullable else {}
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, DateTime):
        return WHEN
    if isinstance(kind, Date):
        return WHEN.date()
    if isinstance(kind, Integer | Numeric | Float):
        return KEY
    if isinstance(kind, LargeBinary):
        return b"kept bytes"
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 64
        return f"{table.name}.{column.name}"[:length]
    return None


def _fill(connection: Connection) -> dict[str, dict[str, Any]]:
    """One row in every table of the schema as it stands; returns what was written."""
    metadata = MetaData()
    metadata.reflect(connection)
    inserted: dict[str, dict[str, Any]] = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        row = {column.name: _value(table, column, inserted) for column in table.columns}
        connection.execute(table.insert().values(**row))
        inserted[table.name] = row
    return inserted


def _read_back(connection: Connection, written: dict[str, dict[str, Any]]) -> list[str]:
    metadata = MetaData()
    metadata.reflect(connection)
    lost = []
    for name, row in written.items():
        table = metadata.tables.get(MOVED.get(name, name))
        if table is None:
            lost.append(f"table {name} is gone")
            continue
        if name in MOVED:
            if connection.execute(select(table)).first() is None:
                lost.append(f"the row of {name} did not reach {table.name}")
            continue
        keys = [c for c in table.primary_key.columns]
        found = (
            connection.execute(select(table).where(*(c == row[c.name] for c in keys)))
            .mappings()
            .first()
        )
        if found is None:
            lost.append(f"the row of {name} is gone")
            continue
        for column, value in row.items():
            if isinstance(value, str) and column in found and found[column] != value:
                lost.append(f"{name}.{column} was {value!r}, is {found[column]!r}")
    return lost


@pytest.mark.parametrize("revision", _revisions())
async def test_upgrade_from_each_revision_keeps_every_row(database_url: str, revision: str):
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(_upgrade, revision)
            written = await connection.run_sync(_fill)
            await connection.commit()
        assert written, "nothing was written"

        await db.migrate()

        async with db.engine.connect() as connection:
            lost = await connection.run_sync(_read_back, written)
        assert not lost, lost
        # The upgraded rows load through today's models.
        async with db.read() as session:
            ticket = await session.get(Ticket, KEY)
            message = await session.get(Message, KEY)
        assert ticket is not None and ticket.subject == "tickets.subject"
        assert message is not None and message.text == "messages.text"
    finally:
        await db.dispose()


async def test_a_database_from_a_newer_helpdesk_is_refused(database_url: str, tmp_path: Path):
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaTooNew, match="9999, newer than this helpdesk"):
            await db.migrate()
    finally:
        await db.dispose()

    for command_line in (["migrate"], ["serve", "--port", str(free_port())]):
        result = await run_cli(
            *command_line, HELPDESK_DATABASE_URL=database_url, HELPDESK_DATA_DIR=str(tmp_path)
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert "newer than this helpdesk" in result.stderr
        assert "run that version, or restore a backup" in result.stderr
