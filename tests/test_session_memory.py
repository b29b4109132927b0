"""Each process remembers for a moment which agent a session token names
(`HELPDESK_ACCOUNTS__SESSION_CACHE_SECONDS`, `staff/session_cache.py`). The process that ends a
session refuses it at once (test_accounts.py); these tests run two real `helpdesk serve`
processes on one database and show what another process does: it refuses the token at most
that many seconds later, or at once when the memory is off."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.server import HelpdeskServer


async def _me(base_url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code


async def _logged_out_in_one_seen_by_other(
    tmp_path: Path, database_url: str, cache_seconds: str
) -> float:
    """Log in and out through one server; how long the other still accepted the token."""
    await seed_staff(database_url)
    env = {"HELPDESK_ACCOUNTS__SESSION_CACHE_SECONDS": cache_seconds}
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
    assert await _logged_out_in_one_seen_by_other(tmp_path, database_url, "1") < 1.5


async def test_without_the_memory_another_process_refuses_at_once(
    tmp_path: Path, database_url: str
):
    assert await _logged_out_in_one_seen_by_other(tmp_path, database_url, "0") < 0.2
