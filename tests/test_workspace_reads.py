"""What the workspace reads and does, on SQLite and PostgreSQL: the queue's views, filters,
order (soonest due first), counts and pages under the visibility rule; a failed reply sent
again; live `ticket` frames only to agents who may see the ticket."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.delivery.state import retry_failed
from helpdesk.events.types import MessageReceived
from helpdesk.routing.feed import Sight
from helpdesk.runtime import Runtime
from helpdesk.sla.models import SlaTimer, TimerStatus
from helpdesk.staff.models import Agent, Team
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)
from helpdesk.tickets.worklist import WorkFilter, worklist
from tests.conftest import People

HOUR = timedelta(hours=1)


async def _agent(desk: Runtime, email: str) -> Agent:
    async with desk.db.read() as session:
        agent = await session.scalar(
            select(Agent).where(Agent.email == email).options(selectinload(Agent.teams))
        )
    assert agent is not None
    return agent


async def _desk_of_tickets(desk: Runtime) -> dict[str, int]:
    """A: Support, Alice's, due in 1 h. B: Billing, Carol's, due in 30 min. C: nobody's, no
    timer. D: Support, unassigned, a high-priority email complaint due in 3 h. E: resolved."""
    from helpdesk.customers.models import Customer

    now = desk.clock.now()
    alice, carol = await _agent(desk, People().alice), await _agent(desk, People().carol)
    async with desk.db.transaction() as session:
        teams = {n: i for n, i in await session.execute(select(Team.name, Team.id))}
        customer = Customer(name="Ann", created_at=now)
        session.add(customer)
        await session.flush()
        specs = {
            "A": (teams["Support"], alice.id, TicketStatus.OPEN, 1.0, "webchat", {}),
            "B": (teams["Billing"], carol.id, TicketStatus.OPEN, 0.5, "webchat", {}),
            "C": (None, None, TicketStatus.NEW, None, "telegram", {}),
            "D": (
                teams["Support"],
                None,
                TicketStatus.OPEN,
                3.0,
                "email",
                {"kind": TicketKind.COMPLAINT, "priority": Priority.HIGH},
            ),
            "E": (teams["Support"], None, TicketStatus.RESOLVED, None, "webchat", {}),
        }
        numbers: dict[str, int] = {}
        for name, (team, assignee, status, due_hours, channel, extra) in specs.items():
            ticket = Ticket(
                subject=f"Ticket {name}",
                status=status,
                channel=channel,
                customer_id=customer.id,
                team_id=team,
                assignee_id=assignee,
                created_at=now,
                updated_at=now,
                **extra,
            )
            session.add(ticket)
            await session.flush()
            numbers[name] = ticket.id
            if due_hours is not None:
                for metric, hours in (("first_response", due_hours), ("resolution", 48.0)):
                    session.add(
                        SlaTimer(
                            ticket_id=ticket.id,
                            metric=metric,
                            policy="standard",
                            calendar="always",
                            fingerprint="x",
                            status=TimerStatus.RUNNING,
                            target_seconds=hours * 3600,
                            started_at=now,
                            due_at=now + hours * HOUR,
                            updated_at=now,
                        )
                    )
    return numbers


async def _subjects(desk: Runtime, email: str, **filters: object) -> tuple[list[str], dict]:
    agent = await _agent(desk, email)
    async with desk.db.read() as session:
        page = await worklist(session, agent, WorkFilter(**filters), now=desk.clock.now())  # type: ignore[arg-type]
    return [row.subject.removeprefix("Ticket ") for row in page.rows], page.counts


async def test_the_queue_shows_what_the_agent_may_see_soonest_due_first(desk: Runtime) -> None:
    await _desk_of_tickets(desk)
    people = People()
    assert await _subjects(desk, people.alice) == (
        ["A", "D", "C"],
        {"mine": 1, "team": 2, "unassigned": 2, "all": 3},
    )
    assert await _subjects(desk, people.supervisor) == (
        ["B", "A", "D", "C"],
        {"mine": 0, "team": 0, "unassigned": 2, "all": 4},
    )
    assert (await _subjects(desk, people.carol))[0] == ["B", "C"]
    assert (await _subjects(desk, people.alice, view="mine"))[0] == ["A"]
    assert (await _subjects(desk, people.alice, view="team"))[0] == ["A", "D"]
    assert (await _subjects(desk, people.alice, view="unassigned"))[0] == ["D", "C"]


async def test_the_queue_filters_and_pages(desk: Runtime) -> None:
    await _desk_of_tickets(desk)
    alice = People().alice
    assert (await _subjects(desk, alice, complaints_only=True))[0] == ["D"]
    assert (await _subjects(desk, alice, priority=Priority.HIGH))[0] == ["D"]
    assert (await _subjects(desk, alice, channel="telegram"))[0] == ["C"]
    assert (await _subjects(desk, alice, statuses=[TicketStatus.RESOLVED]))[0] == ["E"]
    due_soon, counts = await _subjects(desk, alice, due_within=2 * HOUR)
    assert (due_soon, counts["all"]) == (["A"], 1)
    assert (await _subjects(desk, alice, per_page=2, page=1))[0] == ["A", "D"]
    assert (await _subjects(desk, alice, per_page=2, page=2))[0] == ["C"]


async def test_a_failed_reply_is_sent_again_on_request(desk: Runtime) -> None:
    numbers = await _desk_of_tickets(desk)
    alice = await _agent(desk, People().alice)
    now = desk.clock.now()
    async with desk.db.transaction() as session:
        message = Message(
            ticket_id=numbers["A"],
            direction=Direction.OUT,
            author_type=AuthorType.AGENT,
            agent_id=alice.id,
            channel="telegram",
            text="Your card is on its way",
            created_at=now,
            delivery_state=DeliveryState.FAILED,
            delivery_error="403: bot was blocked by the user",
        )
        session.add(message)
        await session.flush()
        session.add(
            OutboxItem(
                message_id=message.id,
                channel="telegram",
                status=OutboxStatus.FAILED,
                attempts=8,
                next_attempt_at=now,
                last_error="403: bot was blocked by the user",
                created_at=now,
            )
        )
    async with desk.db.transaction() as session:
        stored = await session.get(Message, message.id)
        assert stored is not None
        assert await retry_failed(session, stored, agent_id=alice.id, now=now)
    async with desk.db.read() as session:
        stored = await session.get(Message, message.id)
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
        trail = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.ticket_id == numbers["A"])
        )
        assert stored is not None and item is not None
        assert (stored.delivery_state, stored.delivery_error) == (DeliveryState.PENDING, None)
        assert (item.status, item.attempts) == (OutboxStatus.PENDING, 0)
        assert "delivery.retried" in list(trail)
    # A reply that has not failed is left alone.
    async with desk.db.transaction() as session:
        stored = await session.get(Message, message.id)
        assert stored is not None
        assert not await retry_failed(session, stored, agent_id=alice.id, now=now)


async def test_ticket_frames_reach_only_agents_who_may_see_the_ticket(desk: Runtime) -> None:
    numbers = await _desk_of_tickets(desk)
    people = People()
    alice, carol = await _agent(desk, people.alice), await _agent(desk, people.carol)
    feed = desk.live_feed

    def sight(agent: Agent) -> Sight:
        return Sight(False, frozenset(t.id for t in agent.teams))

    async with (
        feed.subscribe(alice.id, sight(alice)) as alices,
        feed.subscribe(carol.id, sight(carol)) as carols,
    ):
        for name in ("D", "B", "C"):
            await feed.on_event(MessageReceived(numbers[name], 1, 1, "webchat", text="hi"))
        frames_alice = [alices.get_nowait() for _ in range(alices.qsize())]
        frames_carol = [carols.get_nowait() for _ in range(carols.qsize())]
    seen_alice = [f["ticket"] for f in frames_alice if f["type"] == "ticket"]
    seen_carol = [f["ticket"] for f in frames_carol if f["type"] == "ticket"]
    assert seen_alice == [numbers["D"], numbers["C"]]
    assert seen_carol == [numbers["B"], numbers["C"]]
    await asyncio.sleep(0)
