"""The Telegram channel through the real `helpdesk serve` process and a local Bot API server:
the round trip with files both ways, faults on delivery, linking by code, a kill -9 in the middle
of a stream, and the webhook."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from helpdesk.storage.database import Database
from helpdesk.tickets.models import Message
from tests.conftest import PASSWORD, People, seed_staff
from tests.support import telegram_api as tg
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

PNG = b"\x89PNG\r\n\x1a\n" + b"reply-image" * 10


@pytest.fixture
def fake() -> Iterator[tg.FakeTelegram]:
    server = tg.FakeTelegram().start()
    yield server
    server.stop()


def telegram_env(fake: tg.FakeTelegram, **extra: str) -> dict[str, str]:
    return {
        "HELPDESK_TELEGRAM__TOKEN": tg.TOKEN,
        "HELPDESK_TELEGRAM__API_BASE_URL": fake.base_url,
        "HELPDESK_TELEGRAM__POLL_TIMEOUT_SECONDS": "1",
        "HELPDESK_OUTBOX__BACKOFF_BASE_SECONDS": "0.2",
        **extra,
    }


@pytest_asyncio.fixture
async def bot_server(
    database_url: str, tmp_path: Path, fake: tg.FakeTelegram
) -> AsyncIterator[HelpdeskServer]:
    await seed_staff(database_url)
    process = HelpdeskServer(tmp_path / "server", database_url, **telegram_env(fake)).start()
    yield process
    process.stop()


async def ticket_of(agent: AgentClient, channel: str, timeout: float = 15.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            tickets = (await agent.queue())["tickets"]
            found = [t for t in tickets if t["channel"] == channel]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


async def detail_when(agent: AgentClient, number: int, check, timeout: float = 15.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            detail = (await agent.ticket(number)).json()
            if check(detail):
                return detail
            await asyncio.sleep(0.1)


async def test_round_trip_files_faults_and_linking(bot_server: HelpdeskServer, fake):
    people = People()
    alice = await AgentClient(bot_server.base_url).login(people.alice, PASSWORD)
    sam = await AgentClient(bot_server.base_url).login(people.supervisor, PASSWORD)
    masha = tg.user(1001, "Masha", "Ivanova")
    fake.add_file("PH", b"customer-photo")
    fake.push(tg.message_update(masha, "My parcel is damaged"))
    fake.push(tg.message_update(masha, None, photo=tg.photo("PH", 14), caption="see"))

    number = (await ticket_of(alice, "telegram"))["number"]
    detail = await detail_when(alice, number, lambda d: len(d["messages"]) == 2)
    assert [m["text"] for m in detail["messages"]] == ["My parcel is damaged", "see"]
    assert detail["messages"][1]["attachments"][0]["filename"] == "photo_uPH.jpg"
    assert detail["customer"]["name"] == "Masha Ivanova"

    # The agent answers with a picture; Telegram is rate limiting at first.
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    asked = time.monotonic()
    reply = await alice.http.post(
        f"/api/tickets/{number}/reply",
        json={
            "text": "Sorry <Masha>! A courier comes tomorrow.",
            "attachments": [
                {
                    "filename": "label.png",
                    "content_type": "image/png",
                    "data_base64": base64.b64encode(PNG).decode(),
                }
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    sent = fake.wait_for("sendMessage")
    assert time.monotonic() - asked >= 1.0, "retry_after was honoured"
    assert sent[0].params["chat_id"] == "1001"
    assert sent[0].params["text"] == (
        "<b>Alice Agent</b>\nSorry &lt;Masha&gt;! A courier comes tomorrow."
    )
    photo = fake.wait_for("sendPhoto")[0]
    assert photo.files["photo"] == ("label.png", PNG)
    await detail_when(alice, number, lambda d: d["messages"][-1]["delivery_state"] == "delivered")

    # The customer taps Complaint, then blocks the bot; the next reply fails for good.
    fake.push(tg.callback_update(masha, "complaint", "Complaint"))
    detail = await detail_when(alice, number, lambda d: d["kind"] == "complaint")
    assert detail["priority"] == "high"
    fake.wait_for("answerCallbackQuery")
    await detail_when(
        alice,
        number,
        lambda d: (
            "complaint is registered" in d["messages"][-1]["text"]
            and d["messages"][-1]["delivery_state"] == "delivered"
        ),
    )
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert (await alice.reply(number, "Are you there?")).status_code == 200
    detail = await detail_when(
        alice, number, lambda d: d["messages"][-1]["delivery_state"] == "failed"
    )
    assert "blocked the bot" in detail["messages"][-1]["delivery_error"]
    assert detail["customer"]["identities"][0]["unreachable"] is True
    await asyncio.sleep(0.5)
    # One 429 earlier, one 403 now: a blocked customer is not retried.
    assert len(fake.calls_of("sendMessage:failed")) == 2

    # Admin view of the channel.
    assert (await alice.http.get("/api/telegram/state")).status_code == 403
    state = (await sam.http.get("/api/telegram/state")).json()
    assert state["state"]["mode"] == "polling"
    assert state["state"]["bot_username"] == tg.BOT_USERNAME
    assert state["state"]["stored"] >= 3

    # The same person chats on the web; an agent links the Telegram account to that customer.
    chat = await ChatClient(bot_server.ws_url, await chat_token(bot_server.base_url)).connect()
    web_number = (await chat.say("c1", "It's Masha again, from the website"))["ticket"]
    web_customer = (await alice.ticket(web_number)).json()["customer"]["id"]
    link = await alice.http.post(f"/api/customers/{web_customer}/telegram-link")
    assert link.status_code == 201, link.text
    url = link.json()["url"]
    assert url.startswith(f"https://t.me/{tg.BOT_USERNAME}?start=")
    code = url.rsplit("=", 1)[1]
    before = len(fake.calls_of("sendMessage"))
    fake.push(tg.message_update(masha, f"/start {code}"))
    fake.push(tg.message_update(tg.user(1002), f"/start {code}"))
    answers = fake.wait_for("sendMessage", before + 2)[before:]
    by_chat = {c.params["chat_id"]: c.params["text"] for c in answers}
    assert by_chat["1001"].startswith("Your Telegram account is now linked")
    assert by_chat["1002"].startswith("This link was already used")
    merged = (await alice.ticket(web_number)).json()["customer"]
    assert sorted(i["channel"] for i in merged["identities"]) == ["telegram", "webchat"]
    both = await alice.queue(customer_id=web_customer)
    assert sorted(t["number"] for t in both["tickets"]) == sorted([number, web_number])
    await chat.close()
    await alice.close()
    await sam.close()


async def count_messages(database_url: str) -> tuple[int, int]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            total = await session.scalar(
                select(func.count()).select_from(Message).where(Message.channel == "telegram")
            )
            distinct = await session.scalar(
                select(func.count(func.distinct(Message.external_id))).where(
                    Message.channel == "telegram"
                )
            )
        return total or 0, distinct or 0
    finally:
        await db.dispose()


@pytest.mark.kills_processes
async def test_kill_mid_stream_loses_and_doubles_nothing(
    database_url: str, tmp_path: Path, fake: tg.FakeTelegram
):
    await seed_staff(database_url)
    env = telegram_env(fake, HELPDESK_TELEGRAM__POLL_LIMIT="20")
    server = HelpdeskServer(tmp_path / "server", database_url, **env).start()
    users = [tg.user(2000 + n) for n in range(20)]
    fake.push_many([tg.message_update(users[n % 20], f"message {n}") for n in range(600)])
    deadline = time.monotonic() + 30
    while fake.highest_offset < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    server.kill()
    stopped_at = fake.highest_offset
    assert 0 < stopped_at < 600, "killed in the middle of the stream"

    again = HelpdeskServer(tmp_path / "server", database_url, port=server.port, **env).start()
    try:
        deadline = time.monotonic() + 60
        while fake.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert fake.pending() == 0
        total, distinct = await count_messages(database_url)
        assert (total, distinct) == (600, 600)
        # A graceful restart resumes from the stored offset too, asking for nothing older.
        again.stop()
        third = HelpdeskServer(tmp_path / "server", database_url, port=server.port, **env)
        third.start()
        fake.push(tg.message_update(users[0], "after restart"))
        deadline = time.monotonic() + 20
        while fake.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await count_messages(database_url) == (601, 601)
        third.stop()
    finally:
        again.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_webhook_checks_its_secret(database_url: str, tmp_path: Path, fake: tg.FakeTelegram):
    await seed_staff(database_url)
    secret = "s3cret-for-the-webhook"
    env = telegram_env(
        fake, HELPDESK_TELEGRAM__MODE="webhook", HELPDESK_TELEGRAM__WEBHOOK_SECRET=secret
    )
    server = HelpdeskServer(tmp_path / "server", database_url, **env).start()
    try:
        registered = fake.wait_for("setWebhook")[0].params
        assert registered["url"] == f"{server.base_url}/api/telegram/webhook"
        assert registered["secret_token"] == secret
        fake.wait_for("getWebhookInfo")
        update = {"update_id": 1, **tg.message_update(tg.user(3001), "Hello by webhook")}
        url = f"{server.base_url}/api/telegram/webhook"
        async with httpx.AsyncClient() as http:
            header = "X-Telegram-Bot-Api-Secret-Token"
            assert (await http.post(url, json=update)).status_code == 401
            wrong = await http.post(url, json=update, headers={header: "guess"})
            assert wrong.status_code == 401
            assert await count_messages(database_url) == (0, 0)
            for _ in range(2):  # Telegram resends when unsure: stored once
                right = await http.post(url, json=update, headers={header: secret})
                assert right.status_code == 200
            junk = await http.post(url, content=b"not json", headers={header: secret})
            assert junk.status_code == 200, "a bad update is recorded, not retried for ever"
        assert await count_messages(database_url) == (1, 1)
        alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
        ticket = await ticket_of(alice, "telegram")
        assert ticket["subject"] == "Hello by webhook"
        await alice.close()
    finally:
        server.stop()
