"""Several processes on one PostgreSQL, each with some channels: a reply is claimed only by a
process that can send it, so it goes out in one attempt, with files any process received.

The drill this comes from: with Telegram in one process of two, half the replies took 2-7
attempts, each failing "the telegram channel is not configured" in the other process first."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.runtime import Runtime
from helpdesk.storage.database import Database
from tests.conftest import PASSWORD, People, seed_staff
from tests.support import telegram_api as tg
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.test_outbox import CHANNEL, ScriptedChannel, queue_replies
from tests.test_telegram_e2e import detail_when, telegram_env, ticket_of

PNG = b"\x89PNG\r\n\x1a\n" + b"uploaded-to-the-other-process" * 20

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def fake() -> Iterator[tg.FakeTelegram]:
    server = tg.FakeTelegram().start()
    yield server
    server.stop()


async def outbox_items(database_url: str, channel: str) -> list[OutboxItem]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            query = select(OutboxItem).where(OutboxItem.channel == channel)
            return list((await session.scalars(query.order_by(OutboxItem.id))).all())
    finally:
        await db.dispose()


def runtime_in(data_dir: Path, database_url: str, clock: FixedClock) -> Runtime:
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    return Runtime(settings, clock=clock)


async def test_only_the_runtime_with_the_channel_claims_its_replies(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    front = runtime_in(tmp_path / "front", database_url, clock)
    back = runtime_in(tmp_path / "back", database_url, clock)
    await front.start()
    await back.start()
    try:
        # Replies are queued where the agent works; that process's worker wakes for each.
        ids = await queue_replies(front, 40)
        assert await front.outbox.deliver_due() == 0
        assert await back.outbox.deliver_due() == 0  # the channel is not loaded there yet
        assert {(i.status, i.attempts) for i in await outbox_items(database_url, CHANNEL)} == {
            (OutboxStatus.PENDING, 0)
        }

        # Like Telegram, the adapter arrives after start; the running worker picks it up.
        channel = ScriptedChannel()
        back.adapters[CHANNEL] = channel
        async with asyncio.timeout(15):
            while len(channel.sent) < len(ids):
                await asyncio.sleep(0.05)
        # Each send's result is committed after the send returns: wait for all of them, then
        # a moment in which any second send would show up.
        async with asyncio.timeout(15):
            while any(
                i.status == OutboxStatus.SENDING for i in await outbox_items(database_url, CHANNEL)
            ):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

        assert Counter(m.message_id for m in channel.sent) == Counter(ids)
        items = await outbox_items(database_url, CHANNEL)
        assert {(i.status, i.attempts, i.last_error) for i in items} == {
            (OutboxStatus.DONE, 1, None)
        }
    finally:
        await front.stop()
        await back.stop()


async def test_a_file_uploaded_to_one_process_goes_out_through_the_other(
    database_url: str, tmp_path: Path, fake: tg.FakeTelegram
):
    """Two `helpdesk serve` processes with their own data dirs; only `back` has Telegram."""
    await seed_staff(database_url)
    back = HelpdeskServer(tmp_path / "back", database_url, **telegram_env(fake)).start()
    front = HelpdeskServer(tmp_path / "front", database_url).start()
    alice = sam = None
    try:
        alice = await AgentClient(front.base_url).login(People().alice, PASSWORD)
        sam = await AgentClient(front.base_url).login(People().supervisor, PASSWORD)
        masha = tg.user(1001, "Masha", "Ivanova")
        fake.push(tg.message_update(masha, "Where is the label?"))
        number = (await ticket_of(alice, "telegram"))["number"]

        texts = [f"answer {n}" for n in range(10)]
        upload = await alice.http.post(
            f"/api/tickets/{number}/reply",
            json={
                "text": "Here is the label.",
                "attachments": [
                    {
                        "filename": "label.png",
                        "content_type": "image/png",
                        "data_base64": base64.b64encode(PNG).decode(),
                    }
                ],
            },
        )
        assert upload.status_code == 200, upload.text
        for text in texts:
            assert (await alice.reply(number, text)).status_code == 200

        photo = (await fake.wait_for_async("sendPhoto", timeout=30))[0]
        assert photo.params["chat_id"] == "1001"
        assert photo.files["photo"] == ("label.png", PNG)
        await detail_when(
            alice,
            number,
            lambda d: all(m["delivery_state"] == "delivered" for m in d["messages"][1:]),
        )
        sent = [c.params["text"] for c in fake.calls_of("sendMessage")]
        for text in ["Here is the label.", *texts]:
            assert sum(s.endswith(text) for s in sent) == 1, (text, sent)

        # Every Telegram delivery, bot and agent alike, took one attempt.
        items = await outbox_items(database_url, "telegram")
        assert len(items) >= 1 + len(texts)
        assert {(i.status, i.attempts, i.last_error) for i in items} == {
            (OutboxStatus.DONE, 1, None)
        }
        assert "not configured" not in front.log() + back.log()

        # A supervisor on `front` sees which channels it sends on, and nothing waits there now.
        view = (await sam.http.get("/api/outbox")).json()
        assert "telegram" not in view["sends_on"] and "webchat" in view["sends_on"]
        assert view["waiting_for_other_channels"] == []
        assert (await alice.http.get("/api/outbox")).status_code == 403
    finally:
        for client in (alice, sam):
            if client is not None:
                await client.close()
        front.stop()
        back.stop()
