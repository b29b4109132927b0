"""Metrics and readiness, read from a real server's endpoints as Prometheus and a load balancer
would read them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpdesk.runtime import Runtime
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD, People, seed_staff
from tests.email_helpers import IMAP_PASSWORD, email_env
from tests.support import telegram_api as tg
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.dovecot import DovecotServer, ImapClient, mail
from tests.support.server import HelpdeskServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base_url: str, **headers: str) -> Samples:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_when_messages_arrive(server: HelpdeskServer):
    before = await scrape(server.base_url)
    assert value(before, "helpdesk_chat_connections") == 0

    chats = [
        await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
        for _ in range(3)
    ]
    tickets = []
    for n, chat in enumerate(chats):
        for m in range(4):
            ack = await chat.say(f"m{m}", f"customer {n} message {m}")
            assert ack["type"] == "ack"
        tickets.append(ack["ticket"])
    # A resent message is a duplicate: stored once, counted once.
    assert (await chats[0].say("m0", "customer 0 message 0"))["duplicate"] is True

    after = await scrape(server.base_url)
    received = "helpdesk_messages_received_total"
    assert (
        value(after, received, channel="webchat") - value(before, received, channel="webchat") == 12
    )
    latency = "helpdesk_intake_seconds_count"
    assert (
        value(after, latency, channel="webchat") - value(before, latency, channel="webchat") == 13
    )
    assert (
        value(after, "helpdesk_tickets", status="new")
        - value(before, "helpdesk_tickets", status="new")
        == 3
    )
    assert value(after, "helpdesk_chat_connections") == 3

    # An agent answers one ticket: it is open now, and its reply went through the outbox.
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    assert (await alice.reply(tickets[0], "On it.")).status_code == 200
    await chats[0].expect("message")
    answered = await scrape(server.base_url)
    assert value(answered, "helpdesk_tickets", status="open") == 1
    assert (
        value(answered, "helpdesk_tickets", status="new")
        == value(after, "helpdesk_tickets", status="new") - 1
    )
    assert value(answered, "helpdesk_outbox_backlog", channel="webchat") == 0
    for chat in chats:
        await chat.close()
    await alice.close()
    for _ in range(100):
        if value(await scrape(server.base_url), "helpdesk_chat_connections") == 0:
            break
        await asyncio.sleep(0.05)
    assert value(await scrape(server.base_url), "helpdesk_chat_connections") == 0


async def test_metrics_need_the_token_or_a_loopback_client(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    # A reverse proxy on this machine, trusted to say who the client is.
    behind_proxy = {"HELPDESK_TRUSTED_PROXIES": '["127.0.0.1"]'}
    open_server = HelpdeskServer(tmp_path / "open", url, **behind_proxy).start()
    try:
        async with httpx.AsyncClient(base_url=open_server.base_url) as http:
            assert (await http.get("/metrics")).status_code == 200
            # Behind a proxy on this machine, the client is the forwarded address.
            remote = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            assert remote.status_code == 403
            assert "HELPDESK_OPERATIONS__METRICS_TOKEN" in remote.json()["detail"]
    finally:
        open_server.stop()

    token = "scrape-token-0123456789"
    guarded = HelpdeskServer(
        tmp_path / "guarded", url, HELPDESK_OPERATIONS__METRICS_TOKEN=token
    ).start()
    try:
        async with httpx.AsyncClient(base_url=guarded.base_url) as http:
            assert (await http.get("/metrics")).status_code == 401
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        samples = await scrape(
            guarded.base_url, Authorization=f"Bearer {token}", **{"X-Forwarded-For": "203.0.113.9"}
        )
        assert ("helpdesk_chat_connections", ()) in samples
    finally:
        guarded.stop()


@pytest.fixture
def own_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot of this test's own: it is stopped mid-test, which the session's must not be."""
    server = DovecotServer(IMAP_PASSWORD, accounts=1).start()
    yield server
    server.stop()


async def ready(base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.get("/api/ready")


async def test_readiness_names_the_mailbox_when_dovecot_stops(
    own_dovecot: DovecotServer, tmp_path: Path
):
    mailbox = own_dovecot.mailbox()
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(url)
    server = HelpdeskServer(tmp_path / "server", url, **email_env(mailbox, None)).start()
    try:
        for _ in range(200):
            answer = await ready(server.base_url)
            if answer.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code == 200, answer.text
        checks = {c["name"]: c for c in answer.json()["checks"]}
        assert checks["database"]["ok"] and checks["outbox"]["ok"]
        assert checks["mailbox:support"] == {
            "name": "mailbox:support",
            "ok": True,
            "detail": "connected, idle",
        }

        # Mail arriving moves the email metrics; the mailbox is caught up again after it.
        async with ImapClient(mailbox) as imap:
            await imap.append(mail("ann@example.test", "Invoice", "Where is my invoice?"))
        for _ in range(200):
            samples = await scrape(server.base_url)
            if value(samples, "helpdesk_messages_received_total", channel="email") == 1:
                break
            await asyncio.sleep(0.05)
        assert value(samples, "helpdesk_messages_received_total", channel="email") == 1
        assert value(samples, "helpdesk_mailbox_connected", mailbox="support") == 1
        assert value(samples, "helpdesk_mailbox_lag_seconds", mailbox="support") < 30

        own_dovecot.halt()
        for _ in range(200):
            answer = await ready(server.base_url)
            if answer.status_code == 503:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["ready"] is False
        failed = [c for c in body["checks"] if not c["ok"]]
        assert [c["name"] for c in failed] == ["mailbox:support"]
        assert failed[0]["detail"].startswith("not connected to 127.0.0.1: ")
        samples = await scrape(server.base_url)
        assert value(samples, "helpdesk_mailbox_connected", mailbox="support") == 0

        # Liveness is unaffected: the process is fine, its mailbox is not.
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get("/api/health")).json()["status"] == "ok"

        own_dovecot.resume()
        for _ in range(300):
            if (await ready(server.base_url)).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await ready(server.base_url)).status_code == 200
    finally:
        server.stop()


async def test_readiness_reports_telegram_failing_and_recovering(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    app = create_app(bot_runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:

        async def telegram_check(status: int) -> dict[str, object]:
            for _ in range(300):
                answer = await http.get("/api/ready")
                if answer.status_code == status:
                    break
                await asyncio.sleep(0.05)
            assert answer.status_code == status, answer.text
            [check] = [c for c in answer.json()["checks"] if c["name"] == "telegram"]
            return check

        assert (await telegram_check(200))["detail"] == f"polling, bot @{tg.BOT_USERNAME}"
        fake_telegram.fail("getUpdates", 502, "Bad Gateway", times=2)
        failing = await telegram_check(503)
        assert failing["ok"] is False and "Bad Gateway" in str(failing["detail"])
        assert (await telegram_check(200))["ok"] is True
