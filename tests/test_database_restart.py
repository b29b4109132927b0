"""PostgreSQL restarts under a running helpdesk: the helpdesk goes on without a restart of its own.

Pooled connections are tested before use only after sitting idle (`storage/liveness.py`), not
at every checkout: a request after a pause gets a live connection, and within a pause too short
to test, at most the first statement on a dead connection fails and the pool replaces the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helpdesk.storage.database import IDLE_BEFORE_TEST_SECONDS, Database
from tests.conftest import PASSWORD, seed_staff
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: restarting the shared one would cut every other test."""
    server = PostgresServer().start()
    yield server
    server.stop()


async def _backend(db: Database) -> int:
    async with db.lookup() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_a_connection_idle_across_a_restart_is_replaced_before_use(
    own_postgres: PostgresServer,
) -> None:
    db = Database(own_postgres.create_database("restart"))
    try:
        before = await _backend(db)
        own_postgres.restart()
        await asyncio.sleep(IDLE_BEFORE_TEST_SECONDS + 0.2)
        # The pooled connection is dead; it is tested, dropped, and a new one answers.
        after = await _backend(db)
        assert after and after != before
        async with db.transaction() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_without_a_pause_one_statement_fails_and_the_pool_recovers(
    own_postgres: PostgresServer,
) -> None:
    db = Database(own_postgres.create_database("restart"))
    try:
        await asyncio.gather(*(_backend(db) for _ in range(3)))  # three pooled connections
        own_postgres.restart()
        failures = 0
        for _ in range(3):
            try:
                await _backend(db)
            except DBAPIError as exc:
                assert exc.connection_invalidated
                failures += 1
        # The failure invalidated the whole pool: the other dead connections were not used.
        assert failures <= 1
        assert await _backend(db)
    finally:
        await db.dispose()


async def test_the_server_answers_after_postgresql_restarted(
    own_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = own_postgres.create_database("served")
    people = await seed_staff(url)
    server = HelpdeskServer(tmp_path / "server", url).start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            login = await http.post(
                "/api/auth/login", json={"email": people.alice, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            assert (await http.get("/api/me", headers=headers)).status_code == 200
            own_postgres.restart()
            await asyncio.sleep(IDLE_BEFORE_TEST_SECONDS + 0.5)
            me = await http.get("/api/me", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["email"] == people.alice
    finally:
        server.stop()
