"""The database: one async engine, sessions, write transactions, and schema migration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, CursorResult, Result, event, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from helpdesk.common.clock import Clock, SystemClock
from helpdesk.storage.event_log import append, take_recorded, type_names
from helpdesk.storage.files import prepare_sqlite_file
from helpdesk.storage.liveness import test_after_idle

# Writers checkpoint the WAL themselves only past this many pages (see `wal_checkpoints.py`).
WAL_SAFETY_NET_PAGES = 10_000

# A pooled PostgreSQL connection idle this long is tested before use (`liveness.py`).
IDLE_BEFORE_TEST_SECONDS = 2.0

# Any constant works; it only has to be the same in every helpdesk process.
MIGRATION_LOCK_KEY = 0x48454C50


class Database:
    """Engine plus session factory. On SQLite, writes in this process are serialised by a lock,
    because SQLite has one writer and a lock in Python waits more cheaply than `busy_timeout`."""

    def __init__(
        self, url: str, *, clock: Clock | None = None, echo: bool = False, pool_size: int = 10
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Stamps the events this database's transactions write (pruning compares them).
        self.clock: Clock = clock or SystemClock()
        if self.is_sqlite:
            prepare_sqlite_file(url)
            self.engine: AsyncEngine = create_async_engine(url, echo=echo)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            test_after_idle(self.engine, IDLE_BEFORE_TEST_SECONDS)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # The same pool; a connection taken through it runs each statement on its own.
        self._autocommit: AsyncEngine | None = (
            None if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._event_listeners: list[Callable[[list[str]], None]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction: committed on success, rolled back on error.
        Events recorded on the session (`event_log.record`) are committed with it."""
        async with self._writer_turn():
            async with self.sessions() as session, session.begin():
                yield session
                events = take_recorded(session)
                if events:
                    await append(await session.connection(), events, self.clock.now())
            if events:
                self.events_committed(type_names(events))

    async def ready_for_savepoints(self, session: AsyncSession) -> None:
        """Call first in a `transaction` that will use `session.begin_nested()`. pysqlite opens
        its transaction only at the first INSERT: a SAVEPOINT before it would itself be the
        outermost transaction, and its RELEASE a commit of everything so far."""
        if self.is_sqlite:
            await (await session.connection()).exec_driver_sql("BEGIN")

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """Like `transaction`, on a bare connection: for Core-only writers on a hot path, where
        a session's own bookkeeping costs more than the statements (intake). The writer appends
        its events itself (`event_log.append`) and calls `events_committed` after the block."""
        async with self._writer_turn(), self.engine.begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def autocommit_session(self) -> AsyncIterator[AsyncSession]:
        """PostgreSQL only: a session on which each statement commits on its own, for a request
        that reads a little and then writes everything in one statement on the session's
        connection (`storage/one_statement.py`): one pooled connection for both. The writer
        appends its events in that statement and calls `events_committed` after it. Never
        flush objects through it: each would commit on its own."""
        if self._autocommit is None:
            raise RuntimeError("SQLite has no autocommit writer; use transaction()")
        async with self.sessions(bind=self._autocommit) as session:
            yield session

    def events_committed(self, types: Iterable[str]) -> None:
        """Tell this process's listeners (the dispatcher) that events of these types are in
        the log."""
        names = list(types)
        for listener in self._event_listeners:
            listener(names)

    def listen_for_events(self, listener: Callable[[list[str]], None]) -> None:
        self._event_listeners.append(listener)

    @contextlib.asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        async with self.sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession]:
        """A session for a few reads on a hot path (who is calling, is this key known): on
        PostgreSQL in autocommit, which saves the BEGIN and ROLLBACK round trips a `read`
        costs; each statement sees what was committed when it ran, as under `read` at READ
        COMMITTED. Never write through it: what it wrote would be committed."""
        if self._autocommit is None:
            async with self.read() as session:
                yield session
            return
        async with self.autocommit_session() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest revision. Several processes may call this at once."""
        async with self.engine.connect() as connection:
            if not self.is_sqlite:
                await connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                await connection.commit()
            try:
                await connection.run_sync(_upgrade_to_head)
                await connection.commit()
            finally:
                if not self.is_sqlite:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    await connection.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("helpdesk.storage") / "migrations"))
    return config


class SchemaTooNew(RuntimeError):
    """The database was upgraded by a newer helpdesk; this one must not touch it."""


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    _refuse_newer_schema(connection, config)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _refuse_newer_schema(connection: Connection, config: Config) -> None:
    """A newer version may have changed tables in ways this code would misread or undo."""
    scripts = ScriptDirectory.from_config(config)
    known = {script.revision for script in scripts.walk_revisions()}
    current = MigrationContext.configure(connection).get_current_heads()
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise SchemaTooNew(
            f"the database's schema is at revision {', '.join(unknown)}, newer than this "
            f"helpdesk knows (newest: {scripts.get_current_head()}); it was upgraded by a newer "
            "version: run that version, or restore a backup made with this one"
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; NORMAL is durable against a process crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Checkpoints run off the commit path (`wal_checkpoints.py`); this is only its safety net.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_NET_PAGES}")
    # Space freed inside a page is zeroed when the page is written anyway (no extra I/O), so an
    # old version of a row does not linger in the file after an erasure (customers/erasure.py).
    cursor.execute("PRAGMA secure_delete=FAST")
    cursor.close()


def rows_matched(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through a session matched. `Session.execute` is typed
    as returning a plain Result; for these statements it is a CursorResult, which counts."""
    assert isinstance(result, CursorResult)
    return result.rowcount
