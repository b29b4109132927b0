"""The routing invariants on a real database (hypothesis, SQLite and PostgreSQL): random agents
(presence, capacity, disabled), random customers' managers and a random stream of tickets,
routed one by one and in batches, with agents going offline and being disabled in between.
After every example: nobody is over capacity, nobody offline or disabled holds a ticket the
router gave them, and every open ticket is either assigned or held."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.customers.models import Customer
from helpdesk.routing import queries
from helpdesk.routing.managers import set_managers
from helpdesk.routing.models import Presence, RoutingDecision
from helpdesk.routing.profiles import (
    ProfileChanges,
    apply_changes,
    exact_loads,
    profile_of,
    set_presence,
)
from helpdesk.routing.service import RoutingService
from helpdesk.routing.settings import RoutingSettings
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.tickets.models import OPEN_STATUSES, Priority, Ticket, TicketStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_serial = itertools.count(1)

agents_drawn = st.lists(
    st.tuples(
        st.sampled_from(list(Presence)),
        st.integers(0, 5),  # capacity
        st.booleans(),  # active
    ),
    min_size=1,
    max_size=6,
)
tickets_drawn = st.lists(
    st.tuples(
        st.sampled_from(["email", "webchat", "telegram"]),
        st.sampled_from(list(Priority)),
        st.none() | st.integers(0, 5),  # manager (index into the agents)
        st.booleans(),  # key account
        st.booleans(),  # routed in a batch with the next ones
    ),
    min_size=1,
    max_size=25,
)
upsets = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["offline", "disabled"])), max_size=2
)


@pytest_asyncio.fixture
async def service(database_url: str) -> AsyncIterator[RoutingService]:
    db = Database(database_url, clock=FixedClock(NOW))
    await db.migrate()
    yield RoutingService(db, db.clock, RoutingSettings(key_account_wait_minutes=0))
    await db.dispose()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(agents_drawn, tickets_drawn, upsets)
async def test_routing_keeps_its_invariants(
    service: RoutingService,
    agents: list[tuple[Presence, int, bool]],
    stream: list[tuple[str, Priority, int | None, bool, bool]],
    upset: list[tuple[int, str]],
):
    db, now = service.db, NOW
    ids = await _agents(service, agents)
    async with db.transaction() as session:
        pending: list[int] = []
        for channel, priority, manager, key, batched in stream:
            n = next(_serial)
            customer = Customer(name=f"c{n}", created_at=now)
            session.add(customer)
            await session.flush()
            if manager is not None and manager < len(ids) and agents[manager][2]:
                await set_managers(
                    session,
                    customer.id,
                    manager_id=ids[manager],
                    backup_id=None,
                    key_account=key,
                    now=now,
                )
            ticket = Ticket(
                subject=f"t{n}",
                channel=channel,
                customer_id=customer.id,
                priority=priority,
                created_at=now,
                updated_at=now,
            )
            session.add(ticket)
            await session.flush()
            pending.append(ticket.id)
            if not batched:
                await service.router.route(session, pending, "new ticket", now=now)
                pending = []
        await service.router.route(session, pending, "new ticket", now=now)
    for index, what in upset:
        if index >= len(ids):
            continue
        async with db.transaction() as session:
            if what == "disabled":
                agent = await session.get(Agent, ids[index])
                assert agent is not None
                agent.active = False
            else:
                profile = await profile_of(session, ids[index], service.settings, now)
                set_presence(session, profile, Presence.OFFLINE, now)
            await service.take_back(session, ids[index], what, unanswered_only=False)
    await service.drain()
    await _check(service)


async def _agents(service: RoutingService, drawn: list[tuple[Presence, int, bool]]) -> list[int]:
    ids = []
    async with service.db.transaction() as session:
        for presence, capacity, active in drawn:
            n = next(_serial)
            agent = Agent(
                email=f"agent{n}@example.test",
                name=f"Agent {n}",
                password_hash="x",
                active=active,
                created_at=NOW,
            )
            session.add(agent)
            await session.flush()
            profile = await profile_of(session, agent.id, service.settings, NOW)
            apply_changes(profile, ProfileChanges(capacity=capacity), NOW)
            set_presence(session, profile, presence, NOW)
            ids.append(agent.id)
    return ids


async def _check(service: RoutingService) -> None:
    async with service.db.read() as session:
        agents = {a.id: a for a in await session.scalars(select(Agent))}
        profiles = {a: await profile_of(session, a, service.settings, NOW) for a in agents}
        loads = await exact_loads(
            session,
            agents,
            {a: p.channel_weights for a, p in profiles.items()},
            service.settings.channel_weights,
        )
        for agent_id, load in loads.items():
            assert load <= profiles[agent_id].capacity, f"agent {agent_id} over capacity"
        open_tickets = list(
            await session.scalars(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES)))
        )
        for ticket in open_tickets:
            if ticket.assignee_id is not None:
                assert agents[ticket.assignee_id].active
                assert profiles[ticket.assignee_id].presence == Presence.ONLINE
        assert await queries.unattended(session, lambda _channel: False) == []
        assigned = await session.scalars(
            select(RoutingDecision.ticket_id).where(RoutingDecision.outcome == "assigned")
        )
        assert all(t.status == TicketStatus.NEW for t in open_tickets)
        assert set(assigned) >= {t.id for t in open_tickets if t.assignee_id is not None}
