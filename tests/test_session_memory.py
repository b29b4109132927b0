"""Each process remembers for a moment which agent a session token names
(`HELPDESK_ACCOUNTS__SESSION_CACHE_SECONDS`, `staff/session_cache.py`). The process that ends a
session refuses it at once (test_accounts.py); these tests run two real `helpdesk serve`
processes on one database and show what another process does: on PostgreSQL it hears of the
logout with its commit and refuses the token at once, memory or not; on SQLite it refuses it at
most the memory's seconds later, or at once when the memory is off (its default there)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from helpdesk.staff.models import Agent
from helpdesk.staff.session_cache import SessionCache, generation
from helpdesk.storage.database import Database
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.server import HelpdeskServer


async def _me(base_url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code


async def _logged_out_in_one_seen_by_other(
    tmp_path: Path, database_url: str, cache_seconds: str | None
) -> float:
    """Log in and out through one server; how long the other still accepted the token."""
    await seed_staff(database_url)
    env: dict[str, Any] = {}
    if cache_seconds is not None:
        env["HELPDESK_ACCOUNTS__SESSION_CACHE_SECONDS"] = cache_seconds
    one = HelpdeskServer(tmp_path / "one", database_url, **env).start(timeout=60)
    two = HelpdeskServer(tmp_path / "two", database_url, **env).start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=one.base_url) as http:
            login = await http.post(
                "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
            )
            token = login.json()["token"]
            assert await _me(two.base_url, token) == 200  # the other process remembers it now
            headers = {"Authorization": f"Bearer {token}"}
            assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204
        assert await _me(one.base_url, token) == 401
        ended = time.monotonic()
        while await _me(two.base_url, token) != 401:
            assert time.monotonic() - ended < 5, "the other process never refused the token"
            await asyncio.sleep(0.05)
        return time.monotonic() - ended
    finally:
        one.stop()
        two.stop()


async def test_another_process_refuses_an_ended_session_within_the_memory(
    tmp_path: Path, database_url: str
):
    seen_after = await _logged_out_in_one_seen_by_other(tmp_path, database_url, "1")
    # PostgreSQL tells the other process with the logout's commit; SQLite cannot.
    assert seen_after < (0.2 if database_url.startswith("postgresql") else 1.5)


async def test_by_default_another_process_refuses_at_once(tmp_path: Path, database_url: str):
    """The default remembers tokens on PostgreSQL (30 s) and not on SQLite: either way the
    logout is seen at once."""
    assert await _logged_out_in_one_seen_by_other(tmp_path, database_url, None) < 0.2


async def test_without_the_memory_another_process_refuses_at_once(
    tmp_path: Path, database_url: str
):
    assert await _logged_out_in_one_seen_by_other(tmp_path, database_url, "0") < 0.2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_agent_disabled_by_another_process_is_refused_at_once(
    tmp_path: Path, database_url: str
):
    """A command (here: this test, a third process) changes the agent's row with a plain
    UPDATE; the servers, remembering the token by default, hear of it with the commit."""
    await seed_staff(database_url)
    server = HelpdeskServer(tmp_path / "one", database_url).start(timeout=60)
    db = Database(database_url)
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            login = await http.post(
                "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
            )
            token = login.json()["token"]
        assert await _me(server.base_url, token) == 200  # remembered now
        async with db.transaction() as session:
            await session.execute(
                update(Agent).where(Agent.email == People().alice).values(active=False)
            )
        disabled = time.monotonic()
        while await _me(server.base_url, token) != 401:
            assert time.monotonic() - disabled < 0.5, "the server kept the disabled agent"
            await asyncio.sleep(0.02)
    finally:
        await db.dispose()
        server.stop()


def test_a_memory_that_cannot_hear_other_processes_remembers_nothing():
    """While its listener is reconnecting a process may have missed a logout elsewhere."""
    hearing = True
    memory = SessionCache(30, trusted=lambda: hearing)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    expires = now + timedelta(hours=1)
    agent = Agent(id=1, email="a@example.test", name="A")
    memory.remember("t", agent, looked_up_at=generation(), now=now, expires=expires)
    assert memory.get("t") is agent
    hearing = False
    assert memory.get("t") is None
    memory.remember("t", agent, looked_up_at=generation(), now=now, expires=expires)
    hearing = True
    assert memory.get("t") is None
