"""Who the chat customer is, on SQLite and PostgreSQL: the widget's frames against a runtime whose
clock the test moves and whose codes go to a real SMTP sink. An email typed in the chat joins
nothing until the code mailed to it comes back: wrong, expired and over-tried codes are refused,
and the right one merges the chat into the customer who already had that address."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.customers.email_claims import EmailClaim
from helpdesk.customers.models import Customer, Identity
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import AuditEntry, Ticket
from tests.conftest import People, seed_staff
from tests.email_helpers import SUPPORT, api_as
from tests.support.smtp import SmtpServer

ANN = "ann@example.test"
CODE = re.compile(r"Your code is (\d{6})")


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


@pytest.fixture
def asks() -> dict[str, str]:
    """What the chat asks (a test may parametrize it): by default both, before the chat."""
    return {"ask_name": "required", "ask_email": "required"}


@pytest_asyncio.fixture
async def desk(
    database_url: str, tmp_path: Path, clock: FixedClock, smtp: SmtpServer, asks: dict[str, str]
) -> AsyncIterator[Runtime]:
    """Staff seeded; the chat asks per `asks`; codes mailed to the sink."""
    await seed_staff(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email={"smtp": smtp.settings(), "from_address": SUPPORT, "auto_ack": False},
        webchat=asks,
    )
    rt = Runtime(settings, clock=clock)
    await rt.start()
    yield rt
    await rt.stop()


class Chat:
    """One widget's socket, in process: frames in through `serve`, frames out as sent."""

    def __init__(self, runtime: Runtime, visitor: str) -> None:
        self.visitor = visitor
        self._in: asyncio.Queue[str | None] = asyncio.Queue()
        self._out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        _, token = runtime.webchat.tokens.issue(visitor)
        self._in.put_nowait(json.dumps({"type": "hello", "token": token}))
        self._task = asyncio.create_task(runtime.webchat.serve(self, self._frames()))
        self._ids = 0

    async def send_text(self, data: str) -> None:
        await self._out.put(json.loads(data))

    async def close(self, code: int, reason: str) -> None:
        await self._in.put(None)

    async def _frames(self) -> AsyncIterator[str]:
        while (frame := await self._in.get()) is not None:
            yield frame

    async def ask(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self._in.put(json.dumps(frame))
        return await asyncio.wait_for(self._out.get(), 10)

    async def ready(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._out.get(), 10)

    async def until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next frame that passes `check` (pushed frames may come in between)."""
        while not check(frame := await asyncio.wait_for(self._out.get(), 10)):
            pass
        return frame

    async def put(self, frame: dict[str, Any]) -> None:
        await self._in.put(json.dumps(frame))

    async def say(self, text: str) -> dict[str, Any]:
        self._ids += 1
        return await self.ask({"type": "message", "client_id": f"m{self._ids}", "text": text})

    async def stop(self) -> None:
        await self._in.put(None)
        await self._task


async def email_from(runtime: Runtime, address: str, text: str, n: int = 1) -> int:
    receipt = await runtime.intake.receive(
        InboundMessage(
            channel="email",
            external_id=f"<{n}.{address}>",
            sender=address,
            sender_name="Ann Example",
            subject=text,
            text=text,
            continues_latest=False,
        )
    )
    return receipt.customer_id


async def codes_sent(smtp: SmtpServer, count: int) -> list[str]:
    received = await smtp.wait_for(count)
    return [CODE.search(r.message.get_content()).group(1) for r in received]  # type: ignore[union-attr]


async def customer_of(runtime: Runtime, visitor: str) -> int | None:
    async with runtime.db.read() as session:
        return await session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == "webchat", Identity.address == visitor
            )
        )


async def tickets_of(runtime: Runtime, customer_id: int) -> list[str]:
    async with runtime.db.read() as session:
        return sorted(
            await session.scalars(select(Ticket.channel).where(Ticket.customer_id == customer_id))
        )


async def identified_chat(runtime: Runtime, visitor: str, email: str = ANN) -> Chat:
    chat = Chat(runtime, visitor)
    ready = await chat.ready()
    assert ready["identify"]["missing"] == ["name", "email"] and ready["identify"]["due"]
    answer = await chat.ask({"type": "identify", "name": "Ann", "email": email})
    assert answer["type"] == "identify", answer
    assert answer["code"]["status"] == "sent"
    assert answer["known"] == {"name": "Ann", "email": email, "verified": False, "code_sent": True}
    assert (await chat.say("Where is my order?"))["type"] == "ack"
    return chat


async def test_the_chat_refuses_messages_until_name_and_email_are_given(
    desk: Runtime, smtp: SmtpServer
) -> None:
    chat = Chat(desk, "visitor-a")
    await chat.ready()
    refused = await chat.say("hello?")
    assert refused["code"] == "identify_first"
    assert refused["message"] == "please give your name and email first"
    assert (await chat.ask({"type": "identify", "name": "Ann"}))["code"] == "identify_first"
    bad = await chat.ask({"type": "identify", "name": "Ann", "email": "not an address"})
    assert bad["code"] == "bad_email"
    assert await customer_of(desk, "visitor-a") is None  # nothing stored for a refusal
    await chat.ask({"type": "identify", "name": "Ann", "email": ANN})
    assert (await chat.say("hello?"))["type"] == "ack"
    await chat.stop()


async def test_an_unverified_address_joins_nothing(desk: Runtime, smtp: SmtpServer) -> None:
    ann = await email_from(desk, ANN, "My invoice is wrong")
    chat = await identified_chat(desk, "visitor-b")
    other = await identified_chat(desk, "visitor-c")  # a second claimant of the same address
    b = await customer_of(desk, "visitor-b")
    c = await customer_of(desk, "visitor-c")
    assert len({ann, b, c}) == 3
    assert await tickets_of(desk, ann) == ["email"]
    assert await tickets_of(desk, b) == ["webchat"]
    # Mail from the address still lands on its owner, never on a claimant.
    assert await email_from(desk, ANN, "Any news?", n=2) == ann
    # An address nobody owns yet: its first mail makes a new customer, not the claimant's.
    await chat.ask({"type": "identify", "name": "Ann", "email": "new@example.test"})
    assert await email_from(desk, "new@example.test", "hi", n=3) not in (ann, b, c)
    async with desk.db.read() as session:
        claims = await session.scalar(select(func.count()).select_from(EmailClaim))
        names = await session.scalar(select(Customer.name).where(Customer.id == b))
    assert claims == 2 and names == "Ann"
    async with api_as(desk, People().supervisor) as api:
        queue = (await api.get("/api/tickets", params={"customer_id": c})).json()["tickets"]
        detail = (await api.get(f"/api/tickets/{queue[0]['number']}")).json()
    assert detail["customer"]["name"] == "Ann"
    assert {
        (i["channel"], i["address"], i["verified"]) for i in detail["customer"]["identities"]
    } == {
        ("webchat", "visitor-c", True),
        ("email", ANN, False),
    }
    await chat.stop()
    await other.stop()


async def test_wrong_expired_and_overtried_codes_are_refused(
    desk: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    ann = await email_from(desk, ANN, "My invoice is wrong")
    chat = await identified_chat(desk, "visitor-d")
    [code] = await codes_sent(smtp, 1)
    async with desk.db.read() as session:
        stored = await session.scalar(select(EmailClaim.code_hash))
    assert stored is not None and len(stored) == 64 and code not in stored  # kept hashed
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = await chat.ask({"type": "verify", "code": wrong})
    assert refused == {
        "type": "error",
        "code": "wrong_code",
        "message": "that code is not right; 4 attempts left",
    }
    clock.advance(timedelta(minutes=15))
    expired = await chat.ask({"type": "verify", "code": code})
    assert expired["code"] == "code_expired"
    assert expired["message"] == "this code has expired; ask for a new code"

    assert (await chat.ask({"type": "send_code"}))["type"] == "code_sent"
    [_, fresh] = await codes_sent(smtp, 2)
    for left in (4, 3, 2, 1):
        answer = await chat.ask({"type": "verify", "code": wrong})
        assert answer["message"] == f"that code is not right; {left} attempts left"
    assert (await chat.ask({"type": "verify", "code": wrong}))["code"] == "too_many_attempts"
    # Even the right code is refused now: a new one must be sent.
    assert (await chat.ask({"type": "verify", "code": fresh}))["code"] == "too_many_attempts"
    assert await customer_of(desk, "visitor-d") != ann
    assert await tickets_of(desk, ann) == ["email"]
    await chat.stop()


async def test_sending_codes_is_limited_per_chat_and_per_address(
    desk: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    chat = await identified_chat(desk, "visitor-e")  # the first code (1 of 3 per chat)
    assert (await chat.ask({"type": "send_code"}))["type"] == "code_sent"
    assert (await chat.ask({"type": "send_code"}))["type"] == "code_sent"
    limited = await chat.ask({"type": "send_code"})
    assert limited["code"] == "rate_limited"
    assert limited["message"] == "too many codes sent; ask for a new one in 60 minutes"
    # Other chats may ask for the same address twice more (5 per address), then no more.
    others = [await identified_chat(desk, f"visitor-e{n}") for n in (1, 2)]
    third = Chat(desk, "visitor-e3")
    await third.ready()
    answer = await third.ask({"type": "identify", "name": "Ann", "email": ANN})
    assert answer["code"]["status"] == "rate_limited"
    assert len(await codes_sent(smtp, 5)) == 5
    clock.advance(timedelta(minutes=61))
    assert (await third.ask({"type": "send_code"}))["type"] == "code_sent"
    for each in (chat, *others, third):
        await each.stop()


async def test_the_right_code_merges_the_chat_into_the_customer_with_that_address(
    desk: Runtime, smtp: SmtpServer
) -> None:
    ann = await email_from(desk, ANN, "My invoice is wrong")
    chat = await identified_chat(desk, "visitor-f")
    chat_customer = await customer_of(desk, "visitor-f")
    [code] = await codes_sent(smtp, 1)
    assert smtp.received[0].recipients == [ANN]
    verified = await chat.ask({"type": "verify", "code": f" {code[:3]} {code[3:]} "})
    assert verified["type"] == "verified" and verified["merged"] is True
    assert verified["identify"]["known"]["verified"] is True
    assert await customer_of(desk, "visitor-f") == ann
    assert await tickets_of(desk, ann) == ["email", "webchat"]
    async with desk.db.read() as session:
        gone = await session.get(Customer, chat_customer)
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert gone is None
    assert actions[-2:] == ["customer.email_verified", "customer.merged"]
    # The chat goes on, now as the customer everyone knows.
    assert (await chat.say("Thanks!"))["type"] == "ack"
    assert await tickets_of(desk, ann) == ["email", "webchat"]
    async with api_as(desk, People().supervisor) as api:
        queue = (await api.get("/api/tickets", params={"customer_id": ann})).json()["tickets"]
        assert sorted(t["channel"] for t in queue) == ["email", "webchat"]
        detail = (await api.get(f"/api/tickets/{queue[0]['number']}")).json()
    identities = {
        (i["channel"], i["address"], i["verified"]) for i in detail["customer"]["identities"]
    }
    assert identities == {("email", ANN, True), ("webchat", "visitor-f", True)}
    await chat.stop()


async def test_a_proven_address_nobody_had_becomes_the_chat_customers(
    desk: Runtime, smtp: SmtpServer
) -> None:
    chat = await identified_chat(desk, "visitor-g", email="gina@example.test")
    [code] = await codes_sent(smtp, 1)
    verified = await chat.ask({"type": "verify", "code": code})
    assert verified["merged"] is False
    customer = await customer_of(desk, "visitor-g")
    # From now on her mail is hers: the address is proven.
    assert await email_from(desk, "gina@example.test", "Follow-up by mail") == customer
    assert await tickets_of(desk, customer or 0) == ["email", "webchat"]
    await chat.stop()


@pytest.mark.parametrize(
    "asks", [{"ask_name": "optional", "ask_email": "required", "ask_when": "on_handover"}]
)
async def test_asked_when_a_person_takes_over_and_enforced_from_then_on(
    desk: Runtime, smtp: SmtpServer
) -> None:
    chat = Chat(desk, "visitor-h")
    ready = await chat.ready()
    assert ready["identify"]["due"] is False and ready["identify"]["missing"] == ["email"]
    assert (await chat.say("My parcel is late"))["type"] == "ack"  # the bot's part: free
    await chat.put({"type": "choose", "client_id": "h1", "payload": "human"})
    # The hand-over tells the widget to ask now.
    pushed = await chat.until(lambda f: f["type"] == "identify" and f["due"])
    assert pushed["missing"] == ["email"]
    await chat.put({"type": "message", "client_id": "h2", "text": "Hello? Anyone?"})
    refused = await chat.until(lambda f: f["type"] == "error")
    assert refused["code"] == "identify_first"
    assert refused["message"] == "please give your email first"
    await chat.put({"type": "identify", "email": "hal@example.test"})
    answer = await chat.until(lambda f: f["type"] == "identify" and "code" in f)
    assert answer["missing"] == [] and answer["known"]["name"] == ""
    await chat.put({"type": "message", "client_id": "h2", "text": "Hello? Anyone?"})
    assert (await chat.until(lambda f: f["type"] == "ack"))["client_id"] == "h2"
    await chat.stop()


@pytest.mark.parametrize("asks", [{"ask_name": "optional", "ask_email": "optional"}])
async def test_optional_details_may_be_left_out(desk: Runtime, smtp: SmtpServer) -> None:
    chat = Chat(desk, "visitor-i")
    ready = await chat.ready()
    assert ready["identify"]["due"] is True and ready["identify"]["missing"] == []
    assert (await chat.say("Just a question"))["type"] == "ack"
    answer = await chat.ask({"type": "identify", "name": "Ida"})
    assert answer["known"] == {"name": "Ida", "email": None, "verified": False, "code_sent": False}
    assert (await chat.ask({"type": "send_code"}))["code"] == "no_email"
    assert (await chat.ask({"type": "verify", "code": "123456"}))["code"] == "no_email"
    await chat.stop()
    assert smtp.received == []
