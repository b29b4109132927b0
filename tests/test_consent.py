"""Consent to proactive messages: nothing unasked goes to a customer on any channel without
their recorded consent, it goes once they consent, and stops again when they withdraw; answers
to the customer's own messages always go (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.customers.consent import consent_history, current
from helpdesk.customers.models import Identity
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from tests.conftest import PASSWORD, People, seed_staff
from tests.email_helpers import api_as, eventually
from tests.opening_helpers import open_ticket, outbox_items
from tests.support import telegram_api as tg
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer


async def _consent(api: httpx.AsyncClient, customer_id: int, channel: str, granted: bool):
    response = await api.post(
        f"/api/customers/{customer_id}/consent",
        json={"channel": channel, "granted": granted, "note": "said so on the phone"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _write_first(api: httpx.AsyncClient, customer_id: int, channel: str) -> httpx.Response:
    return await open_ticket(
        api,
        customer={"id": customer_id},
        subject="Our new plans",
        message={"channel": channel, "text": "May we tell you about our new plans?"},
    )


async def test_no_proactive_telegram_or_email_without_consent(desk: Runtime):
    receipt = await desk.intake.receive(
        InboundMessage(channel="telegram", external_id="tg-1", sender="4242", text="hello")
    )
    telegram_customer = receipt.customer_id
    async with api_as(desk, People().alice) as api:
        # The answer to the customer's own message needs no consent.
        reply = await api.post(f"/api/tickets/{receipt.ticket_id}/reply", json={"text": "Hi!"})
        assert reply.status_code == 200, reply.text
        refused = await _write_first(api, telegram_customer, "telegram")
        assert refused.status_code == 409 and "not agreed" in refused.json()["detail"]

        consent = await _consent(api, telegram_customer, "telegram", True)
        current = {c["channel"]: c for c in consent["current"]}
        assert current["telegram"]["granted"] is True
        assert current["telegram"]["note"] == "said so on the phone"
        assert current["telegram"]["source"] == "agent"
        assert current["email"]["granted"] is False
        allowed = await _write_first(api, telegram_customer, "telegram")
        assert allowed.status_code == 201, allowed.text

        await _consent(api, telegram_customer, "telegram", False)
        again = await _write_first(api, telegram_customer, "telegram")
        assert again.status_code == 409 and "not agreed" in again.json()["detail"]
        history = (await api.get(f"/api/customers/{telegram_customer}/consent")).json()
        assert [h["granted"] for h in history["history"]] == [True, False]

        # Email: a customer met on the phone, with an address.
        call = await open_ticket(api, customer={"email": "jane@customer.test", "name": "Jane"})
        jane = call.json()["ticket"]["customer_id"]
        mail = await _write_first(api, jane, "email")
        assert mail.status_code == 409 and "not agreed" in mail.json()["detail"]
        await _consent(api, jane, "email", True)
        assert (await _write_first(api, jane, "email")).status_code == 201
        await _consent(api, jane, "email", False)
        assert (await _write_first(api, jane, "email")).status_code == 409

        # Consent is recorded only for a customer the agent may see, on a channel it knows.
        assert (
            await api.post(
                f"/api/customers/{jane}/consent", json={"channel": "fax", "granted": True}
            )
        ).status_code == 422
        assert (
            await api.post(
                "/api/customers/999999/consent", json={"channel": "email", "granted": True}
            )
        ).status_code == 404
        audit = (await api.get(f"/api/customers/{jane}")).json()
        assert audit["consent"][0]["channel"] == "email"

    # Exactly the two that were allowed (and the reply) were queued.
    queued = sorted(channel for channel, _ in await outbox_items(desk))
    assert queued == ["email", "telegram", "telegram"]


async def test_an_operator_may_let_proactive_email_go_without_consent(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        customers={"proactive_email_needs_consent": False},
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    try:
        async with api_as(runtime, People().alice) as api:
            mail = await open_ticket(
                api,
                customer={"email": "kim@customer.test"},
                message={"channel": "email", "text": "Your plan renews soon."},
            )
            assert mail.status_code == 201, mail.text
            kim = mail.json()["ticket"]["customer_id"]
            # Chat channels still need consent whatever the email setting.
            await runtime.intake.receive(
                InboundMessage(channel="telegram", external_id="t1", sender="77", text="hi")
            )
            assert (await _write_first(api, kim, "telegram")).status_code == 409
    finally:
        await runtime.stop()


async def test_no_proactive_web_chat_without_consent(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    ack = await chat.say("c1", "Hello, just looking")
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    customer_id = (await alice.ticket(ack["ticket"])).json()["customer_id"]

    refused = await _write_first(alice.http, customer_id, "webchat")
    assert refused.status_code == 409 and "not agreed" in refused.json()["detail"]
    await _consent(alice.http, customer_id, "webchat", True)
    allowed = await _write_first(alice.http, customer_id, "webchat")
    assert allowed.status_code == 201, allowed.text
    pushed = await chat.expect("message")
    assert pushed["text"] == "May we tell you about our new plans?"
    await _consent(alice.http, customer_id, "webchat", False)
    again = await _write_first(alice.http, customer_id, "webchat")
    assert again.status_code == 409 and "not agreed" in again.json()["detail"]
    await chat.close()
    await alice.close()


async def _granted(runtime: Runtime, customer_id: int, channel: str) -> tuple[bool, str | None]:
    async with runtime.db.read() as session:
        state = current(await consent_history(session, customer_id))[channel]
    return state.granted, state.source


async def test_the_customer_withdraws_by_themselves_on_the_channel(desk: Runtime):
    """Telegram's /stop (its payload) and a message that is only "STOP" on email."""
    first = await desk.intake.receive(
        InboundMessage(channel="telegram", external_id="tg-1", sender="4242", text="hello")
    )
    mail = await desk.intake.receive(
        InboundMessage(channel="email", external_id="m-1", sender="kim@customer.test", text="hi")
    )
    async with api_as(desk, People().alice) as api:
        await _consent(api, first.customer_id, "telegram", True)
        await _consent(api, mail.customer_id, "email", True)
    await desk.intake.receive(
        InboundMessage(
            channel="telegram", external_id="tg-2", sender="4242", text="/stop", payload="stop"
        )
    )
    await desk.intake.receive(
        InboundMessage(channel="email", external_id="m-2", sender="kim@customer.test", text="STOP")
    )
    # "Please stop the delivery" is a question, not a withdrawal.
    await desk.intake.receive(
        InboundMessage(
            channel="email",
            external_id="m-3",
            sender="kim@customer.test",
            text="Please stop the delivery",
        )
    )
    for customer_id, channel in ((first.customer_id, "telegram"), (mail.customer_id, "email")):
        assert await eventually(lambda c=customer_id, ch=channel: _withdrawn(desk, c, ch)) == (
            False,
            "customer",
        )
    async with api_as(desk, People().alice) as api:
        refused = await _write_first(api, first.customer_id, "telegram")
        assert refused.status_code == 409 and "not agreed" in refused.json()["detail"]
        audit = (await api.get(f"/api/tickets/{first.ticket_id}")).json()
        assert any("no messages you did not ask for" in m["text"] for m in audit["messages"])


async def _withdrawn(runtime: Runtime, customer_id: int, channel: str):
    state = await _granted(runtime, customer_id, channel)
    return state if state[0] is False else None


async def test_telegram_stop_through_the_bot_api(
    bot_runtime: Runtime, fake_telegram: tg.FakeTelegram, database_url: str
):
    await seed_staff(database_url)
    fake = fake_telegram
    fake.push(tg.message_update(tg.user(4343), "hello"))
    customer_id = await eventually(lambda: _customer_of(bot_runtime, "4343"))
    async with api_as(bot_runtime, People().alice) as api:
        await _consent(api, customer_id, "telegram", True)
        fake.push(tg.message_update(tg.user(4343), "/stop"))
        assert await eventually(lambda: _withdrawn(bot_runtime, customer_id, "telegram")) == (
            False,
            "customer",
        )
        assert await eventually(lambda: _confirmation(fake))
        refused = await _write_first(api, customer_id, "telegram")
        assert refused.status_code == 409


async def _customer_of(runtime: Runtime, address: str) -> int | None:
    async with runtime.db.read() as session:
        return await session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == "telegram", Identity.address == address
            )
        )


async def _confirmation(fake: tg.FakeTelegram) -> bool:
    return any(
        "no messages you did not ask for" in call.params.get("text", "")
        for call in fake.calls_of("sendMessage")
    )
