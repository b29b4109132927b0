"""Agents' accounts through the API: sessions that end when they should, a login throttle that
slows guessing without letting anyone lock a colleague out, and admins managing agents.

Each test runs on SQLite and PostgreSQL, against the app in this process (so the caller's
address can be chosen and the security log read)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Agent, Role
from helpdesk.storage.event_log import StoredEvent
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.server import HelpdeskServer

ADMIN = "ada@example.test"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Any:
    return load_settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        **overrides,
    )


@asynccontextmanager
async def started(settings: Any, clock: FixedClock) -> AsyncIterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


class Desk:
    """The running helpdesk, and clients calling it from any address."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app = create_app(runtime)

    def client(self, address: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test")

    async def login(
        self, email: str, password: str = PASSWORD, address: str = "10.0.0.1"
    ) -> httpx.Response:
        async with self.client(address) as http:
            return await http.post("/api/auth/login", json={"email": email, "password": password})

    async def token(self, email: str, password: str = PASSWORD, address: str = "10.0.0.1") -> str:
        response = await self.login(email, password, address)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def call(
        self, method: str, path: str, token: str, json: Any = None, address: str = "10.0.0.1"
    ) -> httpx.Response:
        async with self.client(address) as http:
            return await http.request(
                method, path, json=json, headers={"Authorization": f"Bearer {token}"}
            )


@pytest_asyncio.fixture
async def desk(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Desk]:
    await seed_staff(database_url)
    async with started(make_settings(database_url, tmp_path), clock) as runtime:
        async with runtime.db.transaction() as session:
            await add_agent(
                session,
                email=ADMIN,
                name="Ada Admin",
                password=PASSWORD,
                now=datetime.now(UTC),
                role=Role.ADMIN,
            )
        yield Desk(runtime)


async def test_logout_ends_the_session_at_once(desk: Desk):
    token = await desk.token(People().alice)
    assert (await desk.call("GET", "/api/me", token)).status_code == 200
    assert (await desk.call("POST", "/api/auth/logout", token)).status_code == 204
    after = await desk.call("GET", "/api/me", token)
    assert after.status_code == 401 and "log in again" in after.json()["detail"]
    # The cookie from the same login is the same session: it is over too.
    async with desk.client() as browser:
        login = await browser.post(
            "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
        )
        assert (await browser.get("/api/me")).status_code == 200
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert (await browser.post("/api/auth/logout", headers=csrf)).status_code == 204
        browser.cookies.set("helpdesk_session", login.json()["token"])
        assert (await browser.get("/api/me")).status_code == 401


async def test_a_password_change_ends_the_other_sessions(desk: Desk):
    laptop = await desk.token(People().bob)
    phone = await desk.token(People().bob, address="10.0.0.2")
    wrong = await desk.call(
        "POST",
        "/api/me/password",
        laptop,
        {"current_password": "not it", "new_password": "a-new-long-password"},
    )
    assert wrong.status_code == 422 and "current password is wrong" in wrong.json()["detail"]
    changed = await desk.call(
        "POST",
        "/api/me/password",
        laptop,
        {"current_password": PASSWORD, "new_password": "a-new-long-password"},
    )
    assert changed.status_code == 204
    assert (await desk.call("GET", "/api/me", laptop)).status_code == 200
    assert (await desk.call("GET", "/api/me", phone)).status_code == 401
    assert (await desk.login(People().bob)).status_code == 401
    assert (await desk.login(People().bob, "a-new-long-password")).status_code == 200


async def test_the_token_carries_nothing_from_the_password(desk: Desk):
    token = await desk.token(People().alice)
    async with desk.runtime.db.read() as session:
        alice = await session.scalar(select(Agent).where(Agent.email == People().alice))
    assert alice is not None
    decoded = b"".join(
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".") if part
    )
    for piece in (alice.password_hash[-16:], alice.password_hash.split("$")[-1][:16]):
        assert piece not in token and piece.encode() not in decoded
    assert b'"a"' not in decoded  # not even the agent's id
    assert token != await desk.token(People().alice)


async def test_ten_failures_lock_only_that_account_from_that_address(desk: Desk):
    for _ in range(10):
        assert (await desk.login(People().alice, "guess", "10.0.0.9")).status_code == 401
    blocked = await desk.login(People().alice, PASSWORD, "10.0.0.9")
    assert blocked.status_code == 429 and "too many failed logins" in blocked.json()["detail"]
    assert int(blocked.headers["Retry-After"]) > 0
    # Alice elsewhere, and a colleague on the same address, are not affected.
    assert (await desk.login(People().alice, PASSWORD, "10.0.0.10")).status_code == 200
    assert (await desk.login(People().bob, PASSWORD, "10.0.0.9")).status_code == 200
    # The window passes, and the pair may try again.
    assert isinstance(desk.runtime.clock, FixedClock)
    desk.runtime.clock.advance(
        desk.runtime.settings.accounts.login_window_minutes * timedelta(minutes=1)
    )
    assert (await desk.login(People().alice, PASSWORD, "10.0.0.9")).status_code == 200


async def test_spraying_from_one_address_is_refused_but_known_colleagues_still_log_in(
    desk: Desk,
):
    office = "192.0.2.7"
    assert (await desk.login(People().alice, PASSWORD, office)).status_code == 200
    limit = desk.runtime.settings.accounts.max_failures_per_address
    for number in range(limit):
        sprayed = await desk.login(f"user{number}@example.test", "Summer2026!", office)
        assert sprayed.status_code == 401
    refused = await desk.login("user-next@example.test", "Summer2026!", office)
    assert refused.status_code == 429
    # Carol never logged in from there: she waits too (her first login from a sprayed address).
    assert (await desk.login(People().carol, PASSWORD, office)).status_code == 429
    # Alice did, so the sprayer's failures do not stop her; and Carol is fine from elsewhere.
    assert (await desk.login(People().alice, PASSWORD, office)).status_code == 200
    assert (await desk.login(People().carol, PASSWORD, "198.51.100.1")).status_code == 200


async def test_a_botnet_on_one_account_cannot_lock_its_owner_out(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    settings = make_settings(database_url, tmp_path, accounts={"max_failures_per_account": 5})
    async with started(settings, clock) as runtime:
        desk = Desk(runtime)
        assert (await desk.login(People().alice, PASSWORD, "10.1.1.1")).status_code == 200
        for bot in range(5):
            assert (
                await desk.login(People().alice, "guess", f"203.0.113.{bot}")
            ).status_code == 401
        assert (await desk.login(People().alice, PASSWORD, "203.0.113.99")).status_code == 429
        assert (await desk.login(People().alice, PASSWORD, "10.1.1.1")).status_code == 200


async def test_two_processes_share_one_throttle(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    settings = make_settings(database_url, tmp_path)
    async with started(settings, clock) as one, started(settings, clock) as two:
        first, second = Desk(one), Desk(two)
        for number in range(10):
            process = first if number % 2 else second
            assert (await process.login(People().alice, "guess")).status_code == 401
        assert (await first.login(People().alice)).status_code == 429
        assert (await second.login(People().alice)).status_code == 429


async def test_failed_logins_are_security_events(desk: Desk, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="helpdesk.security"):
        await desk.login(People().alice, "guess", "10.9.9.9")
        await desk.login("nobody@example.test", "guess", "10.9.9.9")
    lines = [r.getMessage() for r in caplog.records if r.name == "helpdesk.security"]
    assert lines == [
        "login failed: account 'alice@example.test' from 10.9.9.9: wrong password",
        "login failed: account 'nobody@example.test' from 10.9.9.9: no such account",
    ]


async def test_admins_manage_agents_and_disabling_ends_sessions(desk: Desk):
    admin = await desk.token(ADMIN)
    carol = await desk.token(People().carol)
    sam = await desk.token(People().supervisor)
    listed = await desk.call("GET", "/api/admin/agents", admin)
    by_email = {a["email"]: a for a in listed.json()}
    carol_id = by_email[People().carol]["id"]
    assert by_email[People().carol]["active"] is True and len(by_email) == 5
    # Only admins: a supervisor is refused every one of these.
    for method, path, body in (
        ("GET", "/api/admin/agents", None),
        ("POST", f"/api/admin/agents/{carol_id}/disable", None),
        ("POST", f"/api/admin/agents/{carol_id}/password", {"password": "whatever-long"}),
        ("PUT", f"/api/admin/agents/{carol_id}/role", {"role": "admin"}),
    ):
        assert (await desk.call(method, path, sam, body)).status_code == 403

    disabled = await desk.call("POST", f"/api/admin/agents/{carol_id}/disable", admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert (await desk.call("GET", "/api/me", carol)).status_code == 401
    assert (await desk.login(People().carol)).status_code == 401
    async with desk.runtime.db.read() as session:
        recorded = list(
            await session.scalars(select(StoredEvent).where(StoredEvent.type == "AgentDisabled"))
        )
    assert [e.payload for e in recorded] == [{"agent_id": carol_id}]
    active = await desk.call("GET", "/api/agents", admin)
    assert People().carol not in [a["email"] for a in active.json()]

    enabled = await desk.call("POST", f"/api/admin/agents/{carol_id}/enable", admin)
    assert enabled.json()["active"] is True
    carol = await desk.token(People().carol)
    reset = await desk.call(
        "POST", f"/api/admin/agents/{carol_id}/password", admin, {"password": "fresh-password-1"}
    )
    assert reset.status_code == 200
    assert (await desk.call("GET", "/api/me", carol)).status_code == 401
    carol = await desk.token(People().carol, "fresh-password-1")
    role = await desk.call(
        "PUT", f"/api/admin/agents/{carol_id}/role", admin, {"role": "supervisor"}
    )
    assert role.json()["role"] == "supervisor"
    assert (await desk.call("GET", "/api/me", carol)).json()["role"] == "supervisor"

    ada_id = by_email[ADMIN]["id"]
    last = await desk.call("POST", f"/api/admin/agents/{ada_id}/disable", admin)
    assert last.status_code == 409 and "only active admin" in last.json()["detail"]
    demoted = await desk.call("PUT", f"/api/admin/agents/{ada_id}/role", admin, {"role": "agent"})
    assert demoted.status_code == 409
    missing = await desk.call("POST", "/api/admin/agents/424242/disable", admin)
    assert missing.status_code == 404


async def test_a_published_password_never_logs_in_outside_a_demo(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    async with started(make_settings(database_url, tmp_path), clock) as runtime:
        async with runtime.db.transaction() as session:
            await add_agent(
                session,
                email="old-demo@example.test",
                name="Old",
                password="demo-password",
                now=datetime.now(UTC),
                allow_published_password=True,
            )
        refused = await Desk(runtime).login("old-demo@example.test", "demo-password")
        assert refused.status_code == 403 and "published" in refused.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    database_url: str, tmp_path: Path
):
    await seed_staff(database_url)

    async def guess(base_url: str, forwarded_for: str, password: str = "guess") -> int:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post(
                "/api/auth/login",
                json={"email": People().alice, "password": password},
                headers={"X-Forwarded-For": forwarded_for},
            )
        return response.status_code

    # Nobody named as a proxy: a client on loopback cannot pose as ten different addresses.
    plain = HelpdeskServer(tmp_path / "plain", database_url).start()
    try:
        for number in range(10):
            assert await guess(plain.base_url, f"203.0.113.{number}") == 401
        assert await guess(plain.base_url, "198.51.100.1", PASSWORD) == 429
    finally:
        plain.stop()
    proxied = HelpdeskServer(
        tmp_path / "proxied", database_url, HELPDESK_TRUSTED_PROXIES='["127.0.0.1"]'
    ).start()
    try:
        for _ in range(10):
            assert await guess(proxied.base_url, "203.0.113.50") == 401
        assert await guess(proxied.base_url, "203.0.113.50", PASSWORD) == 429
        assert await guess(proxied.base_url, "198.51.100.2", PASSWORD) == 200
    finally:
        proxied.stop()
