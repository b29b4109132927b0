"""SLA timers through their whole life, on an injected clock: started by a new ticket, paused
while the ticket waits on the customer, met by a person's reply (never by a note or the bot),
recomputed when the policy changes, breached, escalated up every step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.sla.models import Escalation, SlaTimer, TimerStatus
from helpdesk.staff.models import Agent
from helpdesk.tickets import actions
from helpdesk.tickets.models import Message, Priority, Ticket, TicketKind, TicketStatus
from tests.conftest import People, seed_staff


def _settings(tmp_path: Path, database_url: str, **sla: object):
    return load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        sla=sla,
    )


def chat(visitor: str, text: str, n: int) -> InboundMessage:
    return InboundMessage(
        channel="webchat", external_id=f"{visitor}:{n}", sender=visitor, text=text
    )


async def timers_of(rt: Runtime, ticket_id: int) -> dict[str, SlaTimer]:
    async with rt.db.read() as session:
        rows = await session.scalars(
            select(SlaTimer).where(SlaTimer.ticket_id == ticket_id).order_by(SlaTimer.id)
        )
        return {timer.metric: timer for timer in rows}


async def escalations_of(rt: Runtime, ticket_id: int) -> list[Escalation]:
    async with rt.db.read() as session:
        rows = await session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(Escalation.id)
        )
        return list(rows)


async def fired(rt: Runtime, ticket_id: int, count: int) -> list[Escalation]:
    """Fire what is due, then the ticket's escalations once there are `count`. The scheduler's
    own loop may hold the due timers (on PostgreSQL this call then skips them) and commit a
    moment later."""
    await rt.sla_scheduler.fire_due()
    async with asyncio.timeout(10):
        while len(found := await escalations_of(rt, ticket_id)) < count:
            await asyncio.sleep(0.02)
    return found


async def agent_id(rt: Runtime, email: str) -> int:
    async with rt.db.read() as session:
        found = await session.scalar(select(Agent.id).where(Agent.email == email))
        assert found is not None
        return found


async def act(rt: Runtime, ticket_id: int, email: str, what: str, **fields: object) -> None:
    async with rt.db.transaction() as session:
        agent = await session.scalar(select(Agent).where(Agent.email == email))
        ticket = await session.get(Ticket, ticket_id)
        assert agent is not None and ticket is not None
        now = rt.clock.now()
        if what == "reply":
            await actions.reply(session, agent, ticket, "Here is the answer", now=now)
        elif what == "note":
            await actions.add_note(session, agent, ticket, "Looking into it", now=now)
        elif what == "bot":
            await actions.bot_reply(session, ticket, "Did this article help?", now=now)
        else:
            await actions.change(session, agent, ticket, actions.TicketChanges(**fields), now=now)
    await rt.events.idle()


async def test_a_new_ticket_gets_its_timers_and_only_a_person_s_reply_meets_them(
    desk: Runtime, clock: FixedClock
):
    received = await desk.intake.receive(chat("v1", "My invoice is wrong", 1))
    await desk.events.idle()
    started = clock.now()
    timers = await timers_of(desk, received.ticket_id)
    assert timers["first_response"].status == TimerStatus.RUNNING
    assert timers["first_response"].policy == "standard"
    assert timers["first_response"].due_at == started + timedelta(hours=24)
    assert timers["resolution"].due_at == started + timedelta(hours=120)

    clock.advance(timedelta(hours=1))
    await act(desk, received.ticket_id, People.alice, "note")
    await act(desk, received.ticket_id, People.alice, "bot")
    assert (await timers_of(desk, received.ticket_id))["first_response"].status == "running"

    await act(desk, received.ticket_id, People.alice, "reply")
    first = (await timers_of(desk, received.ticket_id))["first_response"]
    assert first.status == TimerStatus.MET and first.ended_at == started + timedelta(hours=1)
    assert first.used_seconds == 3600 and first.next_fire_at is None

    # The customer writes again: a next response is owed, and a reply meets it.
    clock.advance(timedelta(hours=1))
    await desk.intake.receive(chat("v1", "That did not fix it", 2))
    await desk.events.idle()
    following = (await timers_of(desk, received.ticket_id))["next_response"]
    assert following.status == TimerStatus.RUNNING
    assert following.due_at == clock.now() + timedelta(hours=24)
    await act(desk, received.ticket_id, People.bob, "reply")
    assert (await timers_of(desk, received.ticket_id))["next_response"].status == "met"


async def test_waiting_on_the_customer_pauses_and_their_message_resumes(
    desk: Runtime, clock: FixedClock
):
    received = await desk.intake.receive(chat("v2", "Where is my parcel?", 1))
    await desk.events.idle()
    clock.advance(timedelta(hours=2))
    await act(desk, received.ticket_id, People.alice, "change", status=TicketStatus.PENDING)
    paused = await timers_of(desk, received.ticket_id)
    assert {t.status for t in paused.values()} == {TimerStatus.PAUSED}
    assert paused["first_response"].used_seconds == 7200
    assert paused["first_response"].next_fire_at is None

    clock.advance(timedelta(days=3))  # nothing fires while paused
    assert await desk.sla_scheduler.fire_due() == 0

    await desk.intake.receive(chat("v2", "Here is the tracking number", 2))
    await desk.events.idle()
    resumed = (await timers_of(desk, received.ticket_id))["first_response"]
    assert resumed.status == TimerStatus.RUNNING
    assert resumed.due_at == clock.now() + timedelta(hours=22)


async def test_a_breach_climbs_the_ladder_step_by_step(desk: Runtime, clock: FixedClock):
    received = await desk.intake.receive(chat("v3", "Nobody answers me", 1))
    await desk.events.idle()
    ticket_id = received.ticket_id
    alice, sam = await agent_id(desk, People.alice), await agent_id(desk, People.supervisor)
    await act(desk, ticket_id, People.supervisor, "change", assignee_id=alice)

    clock.advance(timedelta(hours=19))
    assert await desk.sla_scheduler.fire_due() == 0
    clock.advance(timedelta(minutes=12))  # 80% of 24 h
    [warning] = await fired(desk, ticket_id, 1)
    assert warning.level == "warning" and warning.recipients == [alice]
    assert "80% of the first response target" in warning.reason

    clock.advance(timedelta(hours=4, minutes=48))
    breach = (await fired(desk, ticket_id, 2))[-1]
    await desk.events.idle()
    assert breach.level == "breach" and breach.recipients == [sam]
    assert "breached" in breach.reason
    async with desk.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.priority == Priority.HIGH
    assert (await timers_of(desk, ticket_id))["first_response"].breached_at == clock.now()

    clock.advance(timedelta(hours=4))
    further = (await fired(desk, ticket_id, 3))[-1]
    assert further.level == "further" and further.recipients == [sam]
    assert await desk.sla_scheduler.fire_due() == 0  # each step fires once

    # A late reply still meets the timer; the breach stays on record.
    await act(desk, ticket_id, People.alice, "reply")
    late = (await timers_of(desk, ticket_id))["first_response"]
    assert late.status == TimerStatus.MET and late.breached_at is not None


async def test_a_ticket_that_becomes_a_complaint_is_held_to_the_complaint_policy(
    desk: Runtime, clock: FixedClock
):
    received = await desk.intake.receive(chat("v4", "You charged me twice", 1))
    await desk.events.idle()
    clock.advance(timedelta(hours=5))
    await act(desk, received.ticket_id, People.alice, "change", kind=TicketKind.COMPLAINT)
    first = (await timers_of(desk, received.ticket_id))["first_response"]
    assert first.policy == "complaint" and first.target_seconds == 4 * 3600
    # Five hours used of four: warning and breach are due at once, each fired once.
    await fired(desk, received.ticket_id, 2)
    assert await desk.sla_scheduler.fire_due() == 0
    levels = [e.level for e in await escalations_of(desk, received.ticket_id)]
    assert levels == ["warning", "breach"]


async def test_a_policy_change_recomputes_running_timers_at_start(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    rt = Runtime(_settings(tmp_path, database_url), clock=clock)
    await rt.start()
    received = await rt.intake.receive(chat("v5", "Hello?", 1))
    await rt.events.idle()
    await rt.stop()

    clock.advance(timedelta(hours=2))
    tighter = [
        {
            "name": "standard",
            "first_response_hours": 8,
            "next_response_hours": 8,
            "resolution_hours": 40,
        }
    ]
    rt = Runtime(_settings(tmp_path, database_url, policies=tighter), clock=clock)
    await rt.start()
    try:
        timers = await timers_of(rt, received.ticket_id)
        created = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        assert timers["first_response"].due_at == created + timedelta(hours=8)
        assert timers["resolution"].due_at == created + timedelta(hours=40)
    finally:
        await rt.stop()


async def test_resolving_ends_every_timer(desk: Runtime, clock: FixedClock):
    received = await desk.intake.receive(chat("v6", "Cancel my order", 1))
    await desk.events.idle()
    clock.advance(timedelta(hours=1))
    await act(desk, received.ticket_id, People.alice, "change", status=TicketStatus.RESOLVED)
    timers = await timers_of(desk, received.ticket_id)
    assert timers["resolution"].status == TimerStatus.MET
    assert timers["first_response"].status == TimerStatus.STOPPED
    assert all(t.next_fire_at is None for t in timers.values())


async def test_a_customer_waiting_long_hears_we_have_not_forgotten_them(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    rt = Runtime(_settings(tmp_path, database_url, reassure_after_hours=2), clock=clock)
    await rt.start()
    try:
        received = await rt.intake.receive(chat("v7", "Is anyone there?", 1))
        await rt.events.idle()
        clock.advance(timedelta(hours=1, minutes=59))
        assert await rt.sla_scheduler.reassure_customers() == 0
        clock.advance(timedelta(minutes=1))
        await rt.sla_scheduler.reassure_customers()

        async def told() -> list[str]:
            async with rt.db.read() as session:
                query = select(Message.text).where(
                    Message.ticket_id == received.ticket_id,
                    Message.text.like("We have not forgotten you%"),
                )
                return list(await session.scalars(query))

        async with asyncio.timeout(10):  # the scheduler's own loop may be telling them
            while not await told():
                await asyncio.sleep(0.02)
        clock.advance(timedelta(hours=10))
        assert await rt.sla_scheduler.reassure_customers() == 0  # once per response owed
        texts = await told()
        assert len(texts) == 1 and f"#{received.ticket_id}" in texts[0]
        # A system message is not a response: the timer still waits for a person.
        assert (await timers_of(rt, received.ticket_id))["first_response"].status == "running"
    finally:
        await rt.stop()
