"""The Telegram channel in-process, with aiogram talking to a local Bot API server on loopback:
what customers send becomes tickets, replies go out intact, faults are survived, bad updates are
skipped with a reason, and a Telegram account joins a customer known elsewhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from helpdesk import payloads
from helpdesk.channels.telegram import linking
from helpdesk.channels.telegram.models import TelegramMessageEdit, TelegramSkippedUpdate
from helpdesk.common.clock import FixedClock
from helpdesk.customers.models import Customer, Identity
from helpdesk.delivery.models import OutboxItem
from helpdesk.messages import InboundMessage, QuickReply
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Team
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import (
    Attachment,
    AuditEntry,
    DeliveryState,
    Message,
    Ticket,
    TicketKind,
)
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD, People, seed_staff
from tests.support import telegram_api as tg


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def all_taken(fake: tg.FakeTelegram, runtime: Runtime) -> None:
    """Every pushed update is acknowledged (so committed)."""

    async def done() -> bool:
        assert runtime.telegram is not None
        return fake.pending() == 0 and runtime.telegram.state.next_offset == fake.highest_offset

    await eventually(done)


async def inbound(runtime: Runtime) -> list[Message]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(Message).where(Message.channel == "telegram").order_by(Message.id)
        )
        return [m for m in rows if m.direction.value == "in"]


async def test_messages_files_and_edits_become_one_ticket(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    ivan = tg.user(501, language_code="de")
    first = tg.message_update(ivan, "My order #77 never arrived")
    fake.push(first)
    fake.add_file("P1", b"photo-bytes")
    fake.add_file("D1", b"%PDF-invoice")
    fake.add_file("V1", b"OggS-voice")
    fake.add_file("N1", b"mp4-circle")
    fake.add_file("BIG", b"x" * 5000)
    fake.push(tg.message_update(ivan, None, photo=tg.photo("P1", 11), caption="the label"))
    fake.push(
        tg.message_update(
            ivan,
            None,
            document={
                "file_id": "D1",
                "file_unique_id": "uD1",
                "file_name": "invoice.pdf",
                "mime_type": "application/pdf",
                "file_size": 12,
            },
        )
    )
    fake.push(
        tg.message_update(
            ivan, None, voice={"file_id": "V1", "file_unique_id": "uV1", "duration": 3}
        )
    )
    fake.push(
        tg.message_update(
            ivan,
            None,
            video_note={"file_id": "N1", "file_unique_id": "uN1", "length": 240, "duration": 2},
        )
    )
    fake.push(
        tg.message_update(
            ivan,
            "too big",
            document={"file_id": "BIG", "file_unique_id": "uB", "file_size": 5000},
        )
    )
    fake.push(tg.edit_update(first, "My order #78 never arrived"))
    fake.push(tg.message_update(ivan, "Any news?", reply_to_message=first["message"]))
    # Telegram sends an update again (say after a crash on its side): stored once.
    fake.push(dict(first))
    await all_taken(fake, bot_runtime)

    messages = await inbound(bot_runtime)
    assert len({m.ticket_id for m in messages}) == 1
    assert [m.text for m in messages] == [
        "My order #77 never arrived",
        "the label",
        "",
        "",
        "",
        "(document_uB: 5000 bytes, larger than the limit of 1000)\ntoo big",
        "(edited) My order #78 never arrived",
        "(in reply to: My order #77 never arrived)\nAny news?",
    ]
    async with bot_runtime.db.read() as session:
        files = (await session.scalars(select(Attachment).order_by(Attachment.id))).all()
        edit = await session.scalar(select(TelegramMessageEdit))
        identity = await session.scalar(select(Identity).where(Identity.channel == "telegram"))
        customer = await session.get(Customer, identity.customer_id)
    stored = {a.filename: await bot_runtime.attachments.get(a.sha256) for a in files}
    assert stored == {
        "photo_uP1.jpg": b"photo-bytes",
        "invoice.pdf": b"%PDF-invoice",
        "voice.ogg": b"OggS-voice",
        "video_note.mp4": b"mp4-circle",
    }
    assert edit is not None and edit.original_id == messages[0].id
    assert edit.message_id == messages[6].id and messages[0].text.endswith("#77 never arrived")
    assert (identity.address, identity.username, identity.display_name) == (
        "501",
        "user501",
        "Ivan Petrov",
    )
    assert customer.name == "Ivan Petrov" and customer.language == "de"


async def test_bad_updates_are_skipped_with_reasons_and_polling_goes_on(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    someone = tg.user(502)
    fake.push(tg.message_update(someone, "hello group", chat_type="group", chat_id=-100))
    fake.push({"channel_post": tg.message(someone, "news", chat_type="channel", chat_id=-200)})
    fake.push(
        tg.message_update(
            someone,
            None,
            sticker={
                "file_id": "S",
                "file_unique_id": "uS",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            },
        )
    )
    fake.push({"poll": {"id": "p1"}})
    fake.push({"something_new": {"x": 1}})
    fake.push({"message": {"message_id": 9, "chat": {"id": 1}}})
    fake.add_file("P2", b"img")
    fake.push(tg.message_update(someone, None, photo=tg.photo("P2", 3), caption="c" * 100_000))
    fake.push(tg.message_update(someone, "Still there?"))
    await all_taken(fake, bot_runtime)

    assert [m.text for m in await inbound(bot_runtime)] == ["Still there?"]
    async with bot_runtime.db.read() as session:
        skipped = (
            await session.scalars(select(TelegramSkippedUpdate).order_by(TelegramSkippedUpdate.id))
        ).all()
    reasons = [s.reason for s in skipped]
    assert reasons[0] == "message in a group chat (groups are off)"
    assert reasons[1] == "update type channel_post is not used"
    assert reasons[2] == "message with unsupported content: sticker"
    assert reasons[3].startswith("malformed update: poll.")
    assert reasons[4] == "unknown update type"
    assert reasons[5].startswith("malformed update: message.")
    assert reasons[6] == "text of 100000 characters; the limit is 16384"
    assert json.loads(skipped[4].raw)["something_new"] == {"x": 1}
    assert bot_runtime.telegram is not None
    assert sum(bot_runtime.telegram.state.skipped.values()) == 7


async def test_greeting_commands_and_buttons_reach_the_conversation(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    fake.push(tg.message_update(tg.user(601, "Olga"), "/start"))
    greeting = (await fake.wait_for_async("sendMessage"))[0]
    assert "Hello, Olga Petrov!" in greeting.params["text"]
    assert "/human" in greeting.params["text"] and "/complaint" in greeting.params["text"]
    buttons = [row[0] for row in greeting.params["reply_markup"]["inline_keyboard"]]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("Talk to a person", payloads.HUMAN),
        ("Complaint", payloads.COMPLAINT),
    ]

    fake.push(tg.message_update(tg.user(602), "/complaint"))
    fake.push(tg.callback_update(tg.user(603), payloads.COMPLAINT, "Complaint", query_id="q-603"))
    fake.push(tg.message_update(tg.user(604), "Where is my refund?"))
    fake.push(tg.message_update(tg.user(604), "/human"))
    await all_taken(fake, bot_runtime)
    answered = await fake.wait_for_async("answerCallbackQuery")
    assert answered[0].params["callback_query_id"] == "q-603"

    async def conversation_done() -> bool:
        async with bot_runtime.db.read() as session:
            rows = (
                await session.execute(
                    select(Ticket, Identity.address).join(
                        Identity, Identity.customer_id == Ticket.customer_id
                    )
                )
            ).all()
        by_user = {address: ticket for ticket, address in rows}
        return (
            len(by_user) == 3
            and by_user["602"].kind == TicketKind.COMPLAINT
            and by_user["603"].kind == TicketKind.COMPLAINT
            and by_user["604"].handed_over_at is not None
        )

    await eventually(conversation_done)
    messages = await inbound(bot_runtime)
    assert [(m.text, m.payload) for m in messages] == [
        ("/complaint", "complaint"),
        ("Complaint", "complaint"),
        ("Where is my refund?", None),
        ("/human", "human"),
    ]


async def test_replies_are_escaped_split_and_carry_buttons(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    fake.push(tg.message_update(tg.user(701), "Help"))
    await all_taken(fake, bot_runtime)
    ticket_id = (await inbound(bot_runtime))[0].ticket_id
    paragraph = ('Tom & <Jerry> say "hi" ' * 80).strip()
    text = "\n\n".join([paragraph] * 4)
    async with bot_runtime.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        outcome = await tickets.bot_reply(
            session,
            ticket,
            text,
            now=bot_runtime.clock.now(),
            quick_replies=(QuickReply(payloads.rating(5), "5 stars"),),
        )
    sent = await fake.wait_for_async("sendMessage", 4)
    assert all(len(c.params["text"]) <= 4096 for c in sent)
    assert all(c.params["parse_mode"] == "HTML" for c in sent)
    assert "&lt;Jerry&gt;" in sent[0].params["text"] and "<Jerry>" not in sent[0].params["text"]
    # Split between paragraphs: each message holds whole paragraphs.
    assert all(c.params["text"].startswith("Tom &amp;") for c in sent)
    assert "reply_markup" not in sent[0].params
    assert sent[-1].params["reply_markup"]["inline_keyboard"] == [
        [{"text": "5 stars", "callback_data": "csat:5"}]
    ]
    await eventually(lambda: delivery_state(bot_runtime, outcome.message.id, "delivered"))


async def delivery_state(runtime: Runtime, message_id: int, expected: str) -> bool:
    async with runtime.db.read() as session:
        message = await session.get(Message, message_id)
        return message is not None and message.delivery_state.value == expected


async def test_rate_limit_outage_and_block_on_delivery(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram, clock: FixedClock
):
    fake = fake_telegram
    fake.push(tg.message_update(tg.user(801), "Hi"))
    await all_taken(fake, bot_runtime)
    ticket_id = (await inbound(bot_runtime))[0].ticket_id
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    fake.fail("sendMessage", 502, "Bad Gateway")
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    async with bot_runtime.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        outcome = await tickets.bot_reply(session, ticket, "Hello", now=clock.now())
    message_id = outcome.message.id
    start = clock.now()

    async def item() -> OutboxItem:
        async with bot_runtime.db.read() as session:
            return await session.scalar(
                select(OutboxItem).where(OutboxItem.message_id == message_id)
            )

    await fake.wait_for_async("sendMessage:failed", 1)
    await eventually(lambda: _has_error(item, "asked to wait 7"))
    assert (await item()).next_attempt_at == start + timedelta(seconds=7)

    clock.advance(timedelta(seconds=7))
    await bot_runtime.outbox.deliver_due()
    await eventually(lambda: _has_error(item, "unavailable"))
    due = (await item()).next_attempt_at
    assert due > clock.now(), "a 5xx is retried later, with backoff"

    clock.advance(due - clock.now())
    await bot_runtime.outbox.deliver_due()
    await eventually(lambda: delivery_state(bot_runtime, message_id, "failed"))
    async with bot_runtime.db.read() as session:
        message = await session.get(Message, message_id)
        identity = await session.scalar(select(Identity).where(Identity.address == "801"))
    assert "blocked the bot" in (message.delivery_error or "")
    assert identity.unreachable is True
    assert fake.calls_of("sendMessage") == []

    # The customer unblocks the bot and writes again: reachable again.
    fake.push(tg.message_update(tg.user(801), "Sorry, unblocked you"))
    await all_taken(fake, bot_runtime)
    async with bot_runtime.db.read() as session:
        identity = await session.scalar(select(Identity).where(Identity.address == "801"))
    assert identity.unreachable is False


async def _has_error(item: Callable[[], Awaitable[OutboxItem]], words: str) -> bool:
    found = await item()
    return found is not None and words in (found.last_error or "")


async def test_linking_code_joins_identities_once(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram, clock: FixedClock
):
    fake = fake_telegram
    web = await bot_runtime.intake.receive(
        InboundMessage(channel="webchat", external_id="v1:c1", sender="v1", text="From the web")
    )
    fake.push(tg.message_update(tg.user(901, "Anna"), "And now from Telegram"))
    await all_taken(fake, bot_runtime)
    lifetime = timedelta(minutes=30)
    async with bot_runtime.db.transaction() as session:
        code = await linking.issue_code(
            session, web.customer_id, agent_id=None, now=clock.now(), lifetime=lifetime
        )
        stale = await linking.issue_code(
            session,
            web.customer_id,
            agent_id=None,
            now=clock.now() - lifetime * 2,
            lifetime=lifetime,
        )

    fake.push(tg.message_update(tg.user(901, "Anna"), f"/start {code.code}"))
    fake.push(tg.message_update(tg.user(902), f"/start {code.code}"))
    fake.push(tg.message_update(tg.user(903), f"/start {stale.code}"))
    fake.push(tg.message_update(tg.user(904), "/start not-a-code"))
    answers = await fake.wait_for_async("sendMessage", 4)
    by_chat = {int(c.params["chat_id"]): c.params["text"] for c in answers}
    assert by_chat[901].startswith("Your Telegram account is now linked")
    assert by_chat[902].startswith("This link was already used")
    assert by_chat[903].startswith("This link has expired")
    assert by_chat[904].startswith("Hello")  # not a code: the greeting

    async with bot_runtime.db.read() as session:
        identities = (
            await session.execute(select(Identity.channel, Identity.address, Identity.customer_id))
        ).all()
        owners = {(c, a): cid for c, a, cid in identities}
        customers = await session.scalar(select(func.count()).select_from(Customer))
        tickets_of_customer = (
            await session.scalars(
                select(Ticket.channel).where(Ticket.customer_id == web.customer_id)
            )
        ).all()
        merged = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "customer.merged")
        )
    assert owners[("telegram", "901")] == owners[("webchat", "v1")] == web.customer_id
    assert sorted(tickets_of_customer) == ["telegram", "webchat"]
    assert customers == 1
    assert merged.detail["target_customer_id"] == web.customer_id
    assert DeliveryState  # imported for readers: replies are checked in other tests


async def test_polling_rides_out_errors_rate_limits_and_slow_answers(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    await fake.wait_for_async("getWebhookInfo")
    fake.fail("getUpdates", 502, "Bad Gateway")
    fake.fail("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.slow("getFile", 0.5)
    fake.add_file("SLOW", b"slow-file")
    fake.push(tg.message_update(tg.user(1101), "first"))
    fake.push(
        tg.message_update(
            tg.user(1101),
            None,
            document={"file_id": "SLOW", "file_unique_id": "uS", "file_name": "a.txt"},
        )
    )
    await all_taken(fake, bot_runtime)
    assert [m.text for m in await inbound(bot_runtime)] == ["first", ""]
    assert bot_runtime.telegram is not None
    state = bot_runtime.telegram.state
    assert state.last_error is not None and "rate limited" in state.last_error
    assert len(fake.calls_of("getUpdates:failed")) == 2


def test_without_a_token_aiogram_is_never_imported(tmp_path: Path):
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from helpdesk.config import load_settings\n"
        "from helpdesk.runtime import Runtime\n"
        "from helpdesk.web.app import create_app\n"
        f"settings = load_settings(data_dir={str(tmp_path)!r})\n"
        "create_app(Runtime(settings))\n"
        "print('aiogram' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


async def test_link_codes_only_for_customers_the_agent_can_see(bot_runtime: Runtime):
    """Carol (Billing) may not join her Telegram to a customer of Support's: the same 404 as
    for an id that does not exist, so ids outside her sight reveal nothing."""
    await seed_staff(bot_runtime.settings.database_url)
    web = await bot_runtime.intake.receive(
        InboundMessage(channel="webchat", external_id="v9:c1", sender="v9", text="Card blocked")
    )
    async with bot_runtime.db.transaction() as session:
        support = await session.scalar(select(Team.id).where(Team.name == "Support"))
        await session.execute(
            update(Ticket).where(Ticket.id == web.ticket_id).values(team_id=support)
        )
    transport = httpx.ASGITransport(app=create_app(bot_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:

        async def link(email: str, customer_id: int) -> httpx.Response:
            login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            token = login.json()["token"]
            return await http.post(
                f"/api/customers/{customer_id}/telegram-link",
                headers={"Authorization": f"Bearer {token}"},
            )

        hidden = await link(People().carol, web.customer_id)
        missing = await link(People().carol, 424242)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"] == f"no customer {web.customer_id}"
        assert missing.json()["detail"] == "no customer 424242"
        assert (await link(People().alice, web.customer_id)).status_code == 201
        assert (await link(People().supervisor, web.customer_id)).status_code == 201
    async with bot_runtime.db.read() as session:
        issued = await session.scalar(select(func.count()).select_from(linking.TelegramLinkCode))
    assert issued == 2
