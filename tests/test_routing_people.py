"""Relationship managers, rules and people's own moves (SQLite and PostgreSQL): a customer's
ticket goes to their manager, a key account waits for its offline manager up to the limit and
then goes to the backup, a portfolio changes hands in one recorded action, a rule sends a
ticket to its team, disabling an agent re-routes their tickets, and handing back gives the
ticket to someone else."""

from __future__ import annotations

from datetime import timedelta

from helpdesk.common.clock import FixedClock
from helpdesk.events.types import AgentDisabled
from helpdesk.routing import managers, queries
from helpdesk.routing.models import Presence, RoutingRule
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import Priority, Ticket
from tests.conftest import seed_staff
from tests.routing_helpers import agent_id, assignee_soon, mail, set_agent, ticket


async def _manage(runtime: Runtime, customer_id: int, manager: int, backup: int, key: bool):
    async with runtime.db.transaction() as session:
        await managers.set_managers(
            session,
            customer_id,
            manager_id=manager,
            backup_id=backup,
            key_account=key,
            now=runtime.clock.now(),
        )


async def test_the_manager_gets_the_customers_tickets_and_the_reason_says_so(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    await set_agent(runtime, "alice@example.test")
    bob = await set_agent(runtime, "bob@example.test", capacity=20)
    first = await runtime.intake.receive(mail("ann@example.test", 1))
    await runtime.events.idle()
    await _manage(
        runtime, first.customer_id, bob, await agent_id(runtime, "carol@example.test"), False
    )

    for n in range(2, 5):
        later = await runtime.intake.receive(mail("ann@example.test", n))
        await runtime.events.idle()
        assert (await ticket(runtime, later.ticket_id)).assignee_id == bob
    async with runtime.db.read() as session:
        reason = (await queries.decisions(session, later.ticket_id))[-1].reason
    assert "Chosen: Bob Agent, the customer's relationship manager." in reason


async def test_a_key_account_waits_for_its_manager_then_goes_to_the_backup(
    database_url: str, runtime: Runtime, clock: FixedClock
):
    await seed_staff(database_url)
    alice = await set_agent(runtime, "alice@example.test", Presence.OFFLINE)
    bob = await set_agent(runtime, "bob@example.test")
    first = await runtime.intake.receive(mail("vip@example.test", 1))
    await runtime.events.idle()
    await _manage(runtime, first.customer_id, alice, bob, True)

    waiting = await runtime.intake.receive(mail("vip@example.test", 2))
    await runtime.events.idle()
    async with runtime.db.read() as session:
        held = {h.ticket_id: h for h in await queries.holding_queue(session)}
    assert held[waiting.ticket_id].wait_for_id == alice
    assert "Key account: waiting for Alice Agent" in held[waiting.ticket_id].reason

    clock.advance(timedelta(minutes=runtime.settings.routing.key_account_wait_minutes, seconds=1))
    await set_agent(runtime, "bob@example.test")  # his heartbeat
    await runtime.routing.drain()
    assert await assignee_soon(runtime, waiting.ticket_id) == bob
    async with runtime.db.read() as session:
        reason = (await queries.decisions(session, waiting.ticket_id))[-1].reason
    assert "backup relationship manager" in reason


async def test_a_portfolio_changes_hands_in_one_recorded_action(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    alice, bob = (
        await agent_id(runtime, "alice@example.test"),
        await agent_id(runtime, "bob@example.test"),
    )
    carol = await agent_id(runtime, "carol@example.test")
    customers = []
    for n in range(3):
        customers.append((await runtime.intake.receive(mail(f"c{n}@example.test"))).customer_id)
    await _manage(runtime, customers[0], alice, bob, True)
    await _manage(runtime, customers[1], alice, carol, False)
    await _manage(runtime, customers[2], carol, alice, False)
    async with runtime.db.transaction() as session:
        handover = await managers.hand_over_portfolio(
            session, alice, bob, by_agent_id=None, now=runtime.clock.now(), note="Alice retires"
        )
    assert handover.customer_ids == sorted(customers)
    async with runtime.db.read() as session:
        assert await managers.portfolio(session, alice) == []
        now_bob = {
            r.customer_id: (r.manager_id, r.backup_id)
            for r in await managers.portfolio(session, bob)
        }
    assert now_bob == {
        customers[0]: (bob, None),
        customers[1]: (bob, carol),
        customers[2]: (carol, bob),
    }


async def test_a_rule_sends_card_questions_to_billing_with_high_priority(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    await set_agent(runtime, "alice@example.test")
    carol = await set_agent(runtime, "carol@example.test", skills=["cards"])
    async with runtime.db.transaction() as session:
        billing = (await session.get(Agent, carol)).teams[0].id  # type: ignore[union-attr]
        session.add(
            RoutingRule(
                name="cards",
                position=1,
                conditions={"keywords": ["card", "cards"], "channel": "email"},
                team_id=billing,
                skills=["cards"],
                priority="high",
                active=True,
                created_at=runtime.clock.now(),
            )
        )
    opened = await runtime.intake.receive(mail("ann@example.test", text="My card was declined"))
    await runtime.events.idle()
    routed = await ticket(runtime, opened.ticket_id)
    assert (routed.assignee_id, routed.team_id, routed.priority) == (carol, billing, Priority.HIGH)
    async with runtime.db.read() as session:
        reason = (await queries.decisions(session, opened.ticket_id))[-1].reason
    assert reason.startswith("Matched rule 'cards'")
    assert "Alice Agent" not in reason  # not in the team: not even considered


async def test_disabling_an_agent_and_handing_back_reroute_their_tickets(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    alice = await set_agent(runtime, "alice@example.test")
    opened = await runtime.intake.receive(mail("ann@example.test"))
    await runtime.events.idle()
    assert (await ticket(runtime, opened.ticket_id)).assignee_id == alice
    bob = await set_agent(runtime, "bob@example.test")

    async with runtime.db.transaction() as session:
        agent = await session.get(Agent, bob)
        routed = await session.get(Ticket, opened.ticket_id)
        assert agent is not None and routed is not None
        routed.assignee_id = bob  # as if bob had it
    async with runtime.db.transaction() as session:
        agent = await session.get(Agent, bob)
        routed = await session.get(Ticket, opened.ticket_id)
        assert agent is not None and routed is not None
        await runtime.routing.hand_back(session, agent, routed)
    assert (await ticket(runtime, opened.ticket_id)).assignee_id == alice

    async with runtime.db.transaction() as session:
        agent = await session.get(Agent, alice)
        assert agent is not None
        agent.active = False
        record(session, AgentDisabled(alice))
    await runtime.events.idle()
    assert (await ticket(runtime, opened.ticket_id)).assignee_id == bob
    async with runtime.db.read() as session:
        outcomes = [d.outcome for d in await queries.decisions(session, opened.ticket_id)]
    assert outcomes[-2:] == ["released", "assigned"]
