"""The database a benchmark runs on: a file in its folder for SQLite, or a PostgreSQL server of
its own on loopback with fsync on (as in production), stopped afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import PostgresServer


@contextlib.contextmanager
def database_url(database: str, data_dir: Path) -> Iterator[str]:
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}"
        return
    server = PostgresServer(fsync=True)
    try:
        server.start()
        yield server.create_database("bench")
    finally:
        server.stop()
