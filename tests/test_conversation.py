"""The channel-neutral conversation: a person on request, complaints in one tap, ratings that
never reopen a ticket. Channels only translate their buttons and commands into payloads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk import payloads
from helpdesk.config import load_settings
from helpdesk.conversation.handover import COMPLAINT_TEXT, HANDED_OVER_TEXT, asks_for_person
from helpdesk.conversation.satisfaction import (
    QUESTION_TEXT,
    RECOMMEND_TEXT,
    RECOMMEND_THANKS_TEXT,
    THANKS_TEXT,
)
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)


def chat(client_id: str, text: str, payload: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        external_id=f"visitor:{client_id}",
        sender="visitor",
        text=text,
        payload=payload,
    )


async def settle(runtime: Runtime) -> None:
    await runtime.events.idle()


async def outbound_texts(runtime: Runtime, ticket_id: int) -> list[tuple[str, str]]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(Message.author_type, Message.text)
            .where(Message.ticket_id == ticket_id, Message.direction == Direction.OUT)
            .order_by(Message.id)
        )
        return [(author.value, text) for author, text in rows]


@pytest.mark.parametrize(
    "text",
    ["human", "Talk to a human please", "I want to speak to a real person!", "оператор", "/human"],
)
def test_plain_words_asking_for_a_person_are_understood(text: str):
    assert asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    ["My agent at the branch said my card is blocked", "How do I top up?", "human " * 40],
)
def test_ordinary_messages_are_not_a_request_for_a_person(text: str):
    assert not asks_for_person(text)


async def test_asking_for_a_person_hands_over_once_and_tells_the_customer(runtime: Runtime):
    first = await runtime.intake.receive(chat("1", "My card does not work"))
    await runtime.intake.receive(chat("2", "talk to a human please"))
    await runtime.intake.receive(chat("3", "Human", payload=payloads.HUMAN))
    await settle(runtime)
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        reasons = (
            await session.scalars(
                select(AuditEntry.detail).where(AuditEntry.action == "ticket.handed_over")
            )
        ).all()
    assert ticket.handed_over_at is not None
    assert reasons == [{"reason": "the customer asked for a person"}]
    assert await outbound_texts(runtime, first.ticket_id) == [("system", HANDED_OVER_TEXT)]


async def test_complaint_payload_marks_the_ticket_and_puts_a_person_on_it(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "Complaint", payload=payloads.COMPLAINT))
    await settle(runtime)
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, receipt.ticket_id)
    assert ticket.kind == TicketKind.COMPLAINT and ticket.priority == Priority.HIGH
    assert ticket.handed_over_at is not None
    assert await outbound_texts(runtime, ticket.id) == [
        ("system", COMPLAINT_TEXT.format(number=ticket.id))
    ]


async def test_a_rating_on_a_resolved_ticket_is_recorded_without_reopening_it(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "Where is my card?"))
    async with runtime.db.transaction() as session:
        ticket = await session.get(Ticket, receipt.ticket_id)
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = runtime.clock.now()
    rating = await runtime.intake.receive(chat("2", "★★★★", payload=payloads.rating(4)))
    await settle(runtime)
    assert rating.ticket_id == receipt.ticket_id and not rating.reopened
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, receipt.ticket_id)
    assert ticket.status == TicketStatus.RESOLVED and ticket.satisfaction == 4
    assert await outbound_texts(runtime, ticket.id) == [("system", THANKS_TEXT)]


async def test_unknown_payloads_are_stored_and_ignored(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "?", payload="x" * 500))
    await settle(runtime)
    async with runtime.db.read() as session:
        message = await session.get(Message, receipt.message_id)
    assert message.payload == "x" * payloads.MAX_LENGTH
    assert message.author_type == AuthorType.CUSTOMER
    assert await outbound_texts(runtime, receipt.ticket_id) == []


async def resolve_as_agent(runtime: Runtime, ticket_id: int) -> None:
    async with runtime.db.transaction() as session:
        agent = await add_agent(
            session,
            email="ana@example.test",
            name="Ana",
            password="a-long-password-123",
            now=runtime.clock.now(),
        )
        ticket = await session.get(Ticket, ticket_id)
        await tickets.reply(
            session, agent, ticket, "Your card is on its way.", now=runtime.clock.now()
        )
        await tickets.change(
            session,
            agent,
            ticket,
            tickets.TicketChanges(status=TicketStatus.RESOLVED),
            now=runtime.clock.now(),
        )
    await settle(runtime)


async def test_resolving_a_chat_asks_for_a_rating_once_with_five_buttons(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "Where is my card?"))
    await resolve_as_agent(runtime, receipt.ticket_id)
    async with runtime.db.read() as session:
        question = await session.scalar(
            select(Message).where(
                Message.ticket_id == receipt.ticket_id, Message.text == QUESTION_TEXT
            )
        )
    assert question is not None and question.author_type == AuthorType.SYSTEM
    assert [q["payload"] for q in question.quick_replies] == [f"csat:{n}" for n in range(1, 6)]

    await runtime.intake.receive(chat("2", "★★", payload=payloads.rating(2)))
    await runtime.intake.receive(chat("3", "★★★★★", payload=payloads.rating(5)))
    await settle(runtime)
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, receipt.ticket_id)
    assert ticket.status == TicketStatus.RESOLVED and ticket.satisfaction == 5
    assert await outbound_texts(runtime, ticket.id) == [
        ("agent", "Your card is on its way."),
        ("system", QUESTION_TEXT),
        ("system", THANKS_TEXT),
    ]


async def test_the_recommend_question_follows_the_first_rating_when_on(
    database_url: str, tmp_path, clock
):
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        conversation={"recommend_question": True},
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    try:
        receipt = await runtime.intake.receive(chat("1", "Where is my card?"))
        await resolve_as_agent(runtime, receipt.ticket_id)
        await runtime.intake.receive(chat("2", "★★★★", payload=payloads.rating(4)))
        await settle(runtime)
        async with runtime.db.read() as session:
            question = await session.scalar(select(Message).where(Message.text == RECOMMEND_TEXT))
        assert [q["payload"] for q in question.quick_replies] == [f"nps:{n}" for n in range(0, 11)]
        # 0 is an answer too; the ticket stays resolved (feedback reopens nothing).
        await runtime.intake.receive(chat("3", "0", payload=payloads.recommend(0)))
        await settle(runtime)
        async with runtime.db.read() as session:
            ticket = await session.get(Ticket, receipt.ticket_id)
        assert (ticket.status, ticket.satisfaction, ticket.recommend_score) == (
            TicketStatus.RESOLVED,
            4,
            0,
        )
        assert await outbound_texts(runtime, ticket.id) == [
            ("agent", "Your card is on its way."),
            ("system", QUESTION_TEXT),
            ("system", RECOMMEND_TEXT),
            ("system", RECOMMEND_THANKS_TEXT),
        ]
    finally:
        await runtime.stop()
