"""Shared fixtures: real SQLite and PostgreSQL databases, an in-process runtime, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.storage.database import Database
from tests.support import forkserver
from tests.support import telegram_api as tg
from tests.support.dovecot import DovecotServer, Mailbox
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

if TYPE_CHECKING:
    from playwright.async_api import Browser

PASSWORD = "correct horse battery"
_database_numbers = itertools.count(1)


def pytest_collection_finish(session: pytest.Session) -> None:
    # The zygote takes seconds to import the helpdesk: start it now, so that happens while the
    # first tests run rather than when the first of them needs a server.
    if forkserver.enabled() and any(_starts_servers(item) for item in session.items):
        forkserver.zygote().launch()


def _starts_servers(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return hasattr(module, "HelpdeskServer") or "server" in getattr(item, "fixturenames", ())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    forkserver.stop_zygote()
    _staffed_templates.remove()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kills_processes: SIGKILLs a server; its PostgreSQL database is on a server with fsync on",
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The one PostgreSQL server of the session; each test gets its own database on it.
    It runs without fsync: nothing kills it, and most tests commit often."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def durable_postgres() -> Iterator[PostgresServer]:
    """A second server, with fsync on, for tests that kill processes (TESTING.md asks for it).
    Kept apart because fsync made the commit-heavy crash test 30-90 % slower here: on the shared
    server every other test would pay for it too."""
    server = PostgresServer(fsync=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    from tests.email_helpers import IMAP_PASSWORD  # it imports this module

    server = DovecotServer(IMAP_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Mailbox:
    """An IMAP account of the test's own, with an empty INBOX, on the session's Dovecot."""
    return dovecot_server.mailbox()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    durable = request.node.get_closest_marker("kills_processes") is not None
    server: PostgresServer = request.getfixturevalue("durable_postgres" if durable else "postgres")
    return server.create_database(f"test_{next(_database_numbers)}")


@dataclass
class People:
    """The staff every test can use: Support has alice and bob, Billing has carol."""

    supervisor: str = "sam@example.test"
    alice: str = "alice@example.test"
    bob: str = "bob@example.test"
    carol: str = "carol@example.test"


STAFF = (
    ("sam@example.test", "Sam Supervisor", Role.SUPERVISOR, ()),
    ("alice@example.test", "Alice Agent", Role.AGENT, ("Support",)),
    ("bob@example.test", "Bob Agent", Role.AGENT, ("Support",)),
    ("carol@example.test", "Carol Agent", Role.AGENT, ("Billing",)),
)


async def seed_staff(database_url: str) -> People:
    """Put the staff into a fresh database. Hashing their passwords (argon2) takes 0.5-1.5 s, so
    the first fresh database of each kind is seeded and kept as a template; later ones become
    copies of it. A database that is not fresh any more is seeded step by step."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        template = await _staffed_templates.sqlite()
        if await asyncio.to_thread(_copy_if_absent, template, Path(url.database)):
            return People()
    else:
        server = PostgresServer.on_port(url.port)
        if server is not None:
            template = await _staffed_templates.postgres(server)
            assert url.database
            if await asyncio.to_thread(server.replace_with_copy, url.database, template):
                return People()
    await _seed_staff(database_url)
    return People()


def _copy_if_absent(source: Path, target: Path) -> bool:
    try:
        with source.open("rb") as original, target.open("xb") as copy:
            shutil.copyfileobj(original, copy)
    except FileExistsError:
        return False
    return True


async def _seed_staff(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            for email, name, role, teams in STAFF:
                await add_agent(
                    session,
                    email=email,
                    name=name,
                    password=PASSWORD,
                    now=datetime.now(UTC),
                    role=role,
                    teams=teams,
                )
    finally:
        await db.dispose()


def _fold_in_the_log(path: Path) -> None:
    # Copying the one file is a whole copy only once the write-ahead log is folded into it.
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert not path.with_name(path.name + "-wal").exists()


class _StaffedTemplates:
    """A migrated database with the staff in it, made once per session for each kind."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._postgres: dict[int, str] = {}

    async def sqlite(self) -> Path:
        if self._dir is None:
            folder = Path(tempfile.mkdtemp(prefix="helpdesk-staffed-"))
            path = folder / "staffed.sqlite"
            await _seed_staff(f"sqlite+aiosqlite:///{path}")
            # Copying the one file is a whole copy only if the write-ahead log is folded in.
            await asyncio.to_thread(_fold_in_the_log, path)
            self._dir = folder
        return self._dir / "staffed.sqlite"

    async def postgres(self, server: PostgresServer) -> str:
        if server.port not in self._postgres:
            name = "staffed_template"
            await _seed_staff(await asyncio.to_thread(server.create_database, name))
            self._postgres[server.port] = name
        return self._postgres[server.port]

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._postgres.clear()


_staffed_templates = _StaffedTemplates()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest_asyncio.fixture
async def runtime(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    rt = Runtime(settings, clock=clock)
    await rt.start()
    yield rt
    await rt.stop()


@pytest_asyncio.fixture
async def desk(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Runtime]:
    """Like `runtime`, with the staff in the database (sam supervises; alice and bob are in
    Support, carol in Billing)."""
    await seed_staff(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    rt = Runtime(settings, clock=clock)
    await rt.start()
    yield rt
    await rt.stop()


@pytest_asyncio.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    """`helpdesk serve` in its own process, with the staff seeded."""
    await seed_staff(database_url)
    process = HelpdeskServer(tmp_path / "server", database_url).start()
    yield process
    process.stop()


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the whole session; each test gets its own context (its own storage)."""
    from playwright.async_api import async_playwright  # only the browser tests need it

    from tests.support.browser import launch_chromium

    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture
def fake_telegram() -> Iterator[tg.FakeTelegram]:
    server = tg.FakeTelegram().start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def bot_runtime(
    database_url: str, tmp_path: Path, clock: FixedClock, fake_telegram: tg.FakeTelegram
) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        telegram={
            "token": tg.TOKEN,
            "api_base_url": fake_telegram.base_url,
            "poll_timeout_seconds": 1,
            "max_file_bytes": 1000,
        },
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    await runtime.telegram_ready()
    yield runtime
    await runtime.stop()
