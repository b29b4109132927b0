"""Complaints on every path: the detector marks likely ones for an agent to confirm, an agent
marks one, an email subject opens one; a complaint is resolved only with a remedy and a root
cause; a second complaint within 30 days escalates at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from helpdesk import payloads
from helpdesk.channels.email.complaints import complaint_payload
from helpdesk.common.clock import FixedClock
from helpdesk.conversation import complaints
from helpdesk.conversation.complaint_detector import assess
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.sla.models import Escalation, SlaTimer
from helpdesk.staff.models import Agent
from helpdesk.tickets import actions
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    ComplaintResolution,
    ComplaintSuggestion,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)
from tests.conftest import People

THRESHOLD = 1.5


@pytest.mark.parametrize(
    "text",
    [
        "This is the third time you have charged me twice, I am furious",
        "Ich möchte mich über Ihren Kundendienst beschweren.",
        "C'est inadmissible, personne ne répond à mes e-mails.",
        "Quiero poner una queja: el técnico no vino.",
        "Хочу пожаловаться, никто не отвечает уже неделю.",
    ],
)
def test_plain_complaints_are_recognised_in_several_languages(text: str):
    assert assess(text).likely(THRESHOLD), assess(text).explanation


@pytest.mark.parametrize(
    "text",
    [
        "How do I reset my password?",
        "Wann haben Sie am Samstag geöffnet?",
        "I'm so angry at myself, I forgot my password",
    ],
)
def test_questions_and_anger_at_oneself_are_not(text: str):
    assert not assess(text).likely(THRESHOLD), assess(text).explanation


def test_an_email_subject_keyword_opens_a_complaint():
    keywords = ["complaint", "Beschwerde"]
    assert complaint_payload("Complaint: order 1042", keywords) == payloads.COMPLAINT
    assert complaint_payload("AW: beschwerde wegen Lieferung", keywords) == payloads.COMPLAINT
    assert complaint_payload("Complaints department address?", keywords) is None
    assert complaint_payload("Question about my order", keywords) is None


def chat(visitor: str, text: str, n: int = 1, payload: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        external_id=f"{visitor}:{n}",
        sender=visitor,
        text=text,
        payload=payload,
    )


async def agent(session, email: str) -> Agent:  # type: ignore[no-untyped-def]
    found = await session.scalar(select(Agent).where(Agent.email == email))
    assert found is not None
    return found


async def test_a_message_that_complains_is_marked_and_an_agent_confirms_it(desk: Runtime):
    text = "This is the third time you have charged me twice, I am furious"
    received = await desk.intake.receive(chat("c1", text))
    await desk.events.idle()
    async with desk.db.read() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        [suggestion] = await session.scalars(select(ComplaintSuggestion))
    assert ticket is not None and ticket.kind == TicketKind.QUESTION
    assert ticket.handed_over_at is not None  # a person answers, not the bot
    assert "'third time'" in suggestion.reason and "'furious'" in suggestion.reason

    async with desk.db.transaction() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        assert ticket is not None
        alice = await agent(session, People.alice)
        await complaints.decide(session, alice, ticket, confirm=True, now=desk.clock.now())
    await desk.events.idle()
    async with desk.db.read() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        suggestion = await session.get(ComplaintSuggestion, suggestion.id)
        policies = set(
            await session.scalars(
                select(SlaTimer.policy).where(SlaTimer.ticket_id == received.ticket_id)
            )
        )
    assert ticket is not None and ticket.kind == TicketKind.COMPLAINT
    assert ticket.priority == Priority.HIGH
    assert suggestion is not None and suggestion.confirmed is True
    assert policies == {"complaint"}


async def test_a_complaint_is_resolved_only_with_a_remedy_and_a_root_cause(desk: Runtime):
    received = await desk.intake.receive(chat("c2", "I want to complain", payload="complaint"))
    await desk.events.idle()
    causes = desk.settings.conversation.complaint_root_causes

    async def resolve(**fields: object) -> None:
        async with desk.db.transaction() as session:
            ticket = await session.get(Ticket, received.ticket_id)
            assert ticket is not None
            changes = actions.TicketChanges(status=TicketStatus.RESOLVED, **fields)  # type: ignore[arg-type]
            await actions.change(
                session,
                await agent(session, People.alice),
                ticket,
                changes,
                now=desk.clock.now(),
                root_causes=causes,
            )

    with pytest.raises(actions.TicketRuleError, match="remedy"):
        await resolve(root_cause="price")
    with pytest.raises(actions.TicketRuleError, match="root cause, one of: no or little support"):
        await resolve(remedy="Refunded the second charge", root_cause="bad luck")
    await resolve(remedy="Refunded the second charge", root_cause="delay in fixing")
    async with desk.db.read() as session:
        [resolution] = await session.scalars(select(ComplaintResolution))
        ticket = await session.get(Ticket, received.ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.RESOLVED
    assert resolution.root_cause == "delay in fixing"


async def test_a_second_complaint_within_thirty_days_escalates_at_once(
    desk: Runtime, clock: FixedClock
):
    first = await desk.intake.receive(chat("c3", "I want to complain", 1, payload="complaint"))
    await desk.events.idle()
    async with desk.db.transaction() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        assert ticket is not None
        await actions.change(
            session,
            await agent(session, People.alice),
            ticket,
            actions.TicketChanges(
                status=TicketStatus.CLOSED, remedy="Replaced the part", root_cause="price"
            ),
            now=clock.now(),
        )
    await desk.events.idle()
    clock.advance(timedelta(days=12))
    second = await desk.intake.receive(chat("c3", "I want to complain", 2, payload="complaint"))
    await desk.events.idle()
    assert second.ticket_id != first.ticket_id
    async with desk.db.read() as session:
        escalations = list(
            await session.scalars(
                select(Escalation).where(Escalation.ticket_id == second.ticket_id)
            )
        )
        sam = await agent(session, People.supervisor)
    [repeat] = escalations
    assert repeat.level == "repeat_complaint" and repeat.recipients == [sam.id]
    assert f"#{first.ticket_id}" in repeat.reason and repeat.raised_at == clock.now()


async def test_a_no_to_the_follow_up_reopens_the_complaint(desk: Runtime, clock: FixedClock):
    received = await desk.intake.receive(chat("c4", "I want to complain", 1, payload="complaint"))
    await desk.events.idle()
    async with desk.db.transaction() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        assert ticket is not None
        await actions.change(
            session,
            await agent(session, People.alice),
            ticket,
            actions.TicketChanges(
                status=TicketStatus.RESOLVED, remedy="Re-sent the parcel", root_cause="price"
            ),
            now=clock.now(),
        )
    await desk.events.idle()
    clock.advance(timedelta(days=2, hours=23))
    assert await desk.sla_scheduler.ask_follow_ups() == 0
    clock.advance(timedelta(hours=1))
    await desk.sla_scheduler.ask_follow_ups()  # the loop may be asking it at the same time

    async def question() -> Message | None:
        async with desk.db.read() as session:
            return await session.scalar(
                select(Message)
                .where(Message.ticket_id == received.ticket_id, Message.text.contains("fix work"))
                .order_by(Message.id.desc())
            )

    async with asyncio.timeout(10):
        while (asked := await question()) is None:
            await asyncio.sleep(0.02)
    assert await desk.sla_scheduler.ask_follow_ups() == 0  # asked once
    assert asked.quick_replies is not None
    no = asked.quick_replies[1]
    assert no["payload"] == payloads.fix_failed(received.ticket_id)

    answer = await desk.intake.receive(chat("c4", no["label"], 2, payload=no["payload"]))
    await desk.events.idle()
    assert answer.ticket_id == received.ticket_id
    async with desk.db.read() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        [resolution] = await session.scalars(select(ComplaintResolution))
        running = set(
            await session.scalars(
                select(SlaTimer.metric).where(
                    SlaTimer.ticket_id == received.ticket_id, SlaTimer.status == "running"
                )
            )
        )
    assert ticket is not None and ticket.status == TicketStatus.OPEN
    assert ticket.kind == TicketKind.COMPLAINT
    assert resolution.follow_up_answer == "failed"
    assert running == {"next_response", "resolution"}
    async with desk.db.read() as session:
        reopened = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.ticket_id == received.ticket_id,
                    AuditEntry.action == "ticket.reopened",
                )
            )
        )
    assert [(e.actor_type, e.detail["reason"]) for e in reopened] == [
        (AuthorType.CUSTOMER, "the customer said the fix did not work")
    ]
