"""Shared fixtures: real SQLite and PostgreSQL databases, an in-process runtime, a real server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.storage.database import Database
from tests.support import telegram_api as tg
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

PASSWORD = "correct horse battery"
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.create_database(f"test_{next(_database_numbers)}")


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
    return People()


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
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    """`helpdesk serve` in its own process, with the staff seeded."""
    await seed_staff(database_url)
    process = HelpdeskServer(tmp_path / "server", database_url).start()
    yield process
    process.stop()


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
