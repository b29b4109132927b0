"""Presence drives routing (SQLite and PostgreSQL): an agent offline past the grace period has
their unanswered tickets re-routed (answered ones stay), missing heartbeats count as offline,
and an agent coming online drains the holding queue, most urgent and oldest first."""

from __future__ import annotations

from datetime import timedelta

from helpdesk.common.clock import FixedClock
from helpdesk.routing import queries
from helpdesk.routing.models import Presence, RoutingProfile
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent
from helpdesk.tickets import actions
from helpdesk.tickets.models import Priority, Ticket
from tests.conftest import seed_staff
from tests.routing_helpers import assignee_soon, mail, set_agent, ticket


async def test_offline_past_grace_reroutes_unanswered_tickets_only(
    database_url: str, runtime: Runtime, clock: FixedClock
):
    await seed_staff(database_url)
    alice = await set_agent(runtime, "alice@example.test", capacity=5)
    first = await runtime.intake.receive(mail("ann@example.test", 1))
    second = await runtime.intake.receive(mail("ben@example.test", 2))
    await runtime.events.idle()
    assert (await ticket(runtime, first.ticket_id)).assignee_id == alice
    assert (await ticket(runtime, second.ticket_id)).assignee_id == alice
    async with runtime.db.transaction() as session:  # alice answers the second one
        agent = await session.get(Agent, alice)
        answered = await session.get(Ticket, second.ticket_id)
        assert agent is not None and answered is not None
        await actions.reply(session, agent, answered, "On its way.", now=clock.now())

    await set_agent(runtime, "alice@example.test", Presence.OFFLINE)
    grace = runtime.settings.routing.offline_grace_seconds
    clock.advance(timedelta(seconds=grace - 1))
    bob = await set_agent(runtime, "bob@example.test")
    await runtime.routing.sweep_presence()
    await runtime.events.idle()
    assert (await ticket(runtime, first.ticket_id)).assignee_id == alice  # still in grace

    clock.advance(timedelta(seconds=2))
    await runtime.routing.sweep_presence()
    await runtime.events.idle()
    assert (await ticket(runtime, first.ticket_id)).assignee_id == bob
    assert (await ticket(runtime, second.ticket_id)).assignee_id == alice
    async with runtime.db.read() as session:
        outcomes = [d.outcome for d in await queries.decisions(session, first.ticket_id)]
        reason = (await queries.decisions(session, first.ticket_id))[-1].reason
    assert outcomes == ["assigned", "released", "assigned"]
    assert "Not given back" in reason and "Chosen: Bob Agent" in reason


async def test_missing_heartbeats_make_an_agent_offline_and_then_release_tickets(
    database_url: str, runtime: Runtime, clock: FixedClock
):
    await seed_staff(database_url)
    alice = await set_agent(runtime, "alice@example.test")
    opened = await runtime.intake.receive(mail("ann@example.test"))
    await runtime.events.idle()
    assert (await ticket(runtime, opened.ticket_id)).assignee_id == alice

    settings = runtime.settings.routing
    clock.advance(timedelta(seconds=settings.heartbeat_timeout_seconds + 1))
    await runtime.routing.sweep_presence()
    await runtime.events.idle()
    async with runtime.db.read() as session:
        profile = await session.get(RoutingProfile, alice)
        assert profile is not None and profile.presence == Presence.OFFLINE
    assert (await ticket(runtime, opened.ticket_id)).assignee_id == alice  # grace period

    clock.advance(timedelta(seconds=settings.offline_grace_seconds))
    await runtime.routing.sweep_presence()
    await runtime.events.idle()
    assert (await ticket(runtime, opened.ticket_id)).assignee_id is None
    async with runtime.db.read() as session:
        [held] = await queries.holding_queue(session)
        assert await queries.unattended(session, runtime.conversation.bot_answers) == []
    assert held.ticket_id == opened.ticket_id


async def test_coming_online_drains_the_queue_most_urgent_then_oldest(
    database_url: str, runtime: Runtime, clock: FixedClock
):
    await seed_staff(database_url)
    numbers = []
    for n in range(4):
        numbers.append((await runtime.intake.receive(mail(f"c{n}@example.test", n))).ticket_id)
        clock.advance(timedelta(seconds=1))
    await runtime.events.idle()
    async with runtime.db.transaction() as session:
        urgent = await session.get(Ticket, numbers[2])
        assert urgent is not None
        urgent.priority = Priority.URGENT
    await runtime.routing.drain()  # nobody online: nothing moves
    async with runtime.db.read() as session:
        assert len(await queries.holding_queue(session)) == 4

    alice = await set_agent(runtime, "alice@example.test", capacity=2)
    await runtime.events.idle()
    assert await assignee_soon(runtime, numbers[2]) == alice
    assert await assignee_soon(runtime, numbers[0]) == alice
    async with runtime.db.read() as session:
        waiting = [h.ticket_id for h in await queries.holding_queue(session)]
    assert waiting == [numbers[1], numbers[3]]
