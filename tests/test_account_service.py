"""An account's standing reaches its contacts' tickets (SQLite and PostgreSQL): a contact of a
key account with a relationship manager has their ticket routed to that manager, and the key
tier's service-level policy applies to the contact's tickets, whether the tier came from the
rule (the account's value) or an admin's override; a portfolio handover moves the accounts."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.customers import accounts
from helpdesk.customers.accounts import Actor
from helpdesk.routing import managers, queries
from helpdesk.runtime import Runtime
from helpdesk.sla.models import SlaTimer
from tests.conftest import People, seed_staff
from tests.customer_tier_helpers import customer_writing
from tests.routing_helpers import agent_id, set_agent, ticket


async def _account(runtime: Runtime, actor: int, **fields: object) -> int:
    async with runtime.db.transaction() as session:
        account = await accounts.create_account(
            session, fields, runtime.settings.customers, Actor(actor, "admin"), runtime.clock.now()
        )
        return account.id


async def _standing(runtime: Runtime, customer_id: int, actor: int, **fields: object) -> None:
    async with runtime.db.transaction() as session:
        customer = await accounts.get_customer(session, customer_id)
        await accounts.change_standing(
            session,
            customer,
            fields,
            runtime.settings.customers,
            Actor(actor, "admin"),
            runtime.clock.now(),
        )


async def test_a_key_account_s_contact_gets_the_account_s_relationship_manager(
    database_url: str, runtime: Runtime
):
    people = await seed_staff(database_url)
    await set_agent(runtime, people.alice, capacity=20)
    bob = await set_agent(runtime, people.bob, capacity=20)
    carol = await agent_id(runtime, people.carol)
    contact, _ = await customer_writing(runtime, "buyer@acme.test", 1)
    other, _ = await customer_writing(runtime, "someone@example.test", 1)
    acme = await _account(runtime, carol, name="Acme", value=9_000, manager_id=bob)
    await _standing(runtime, contact, carol, account_id=acme)
    await _standing(runtime, other, carol, value=100)
    outcome = await runtime.tier_recompute.run(actor_id=carol)
    assert outcome is not None and outcome.tiers == {"key": 1, "standard": 1}

    _, number = await customer_writing(runtime, "buyer@acme.test", 2)
    assert (await ticket(runtime, number)).assignee_id == bob
    async with runtime.db.read() as session:
        reason = (await queries.decisions(session, number))[-1].reason
    assert "Chosen: Bob Agent, the customer's relationship manager." in reason


async def test_the_key_tier_s_policy_applies_to_the_account_s_contacts(
    database_url: str, desk: Runtime
):
    people = People()
    admin = await agent_id(desk, people.carol)
    contact, _ = await customer_writing(desk, "buyer@acme.test", 1)
    acme = await _account(desk, admin, name="Acme", value=9_000)
    await _standing(desk, contact, admin, account_id=acme)
    await desk.tier_recompute.run(actor_id=admin)
    _, number = await customer_writing(desk, "buyer@acme.test", 2)

    await customer_writing(desk, "visitor@example.test", 1)
    _, outsider_ticket = await customer_writing(desk, "visitor@example.test", 2)
    # An override on the account decides for a second account's contacts just the same.
    globex = await _account(desk, admin, name="Globex", tier_override="key")
    buyer, _ = await customer_writing(desk, "buyer@globex.test", 1)
    await _standing(desk, buyer, admin, account_id=globex)
    _, globex_ticket = await customer_writing(desk, "buyer@globex.test", 2)

    async with desk.db.read() as session:
        policies = {
            t.ticket_id: t.policy
            for t in await session.scalars(
                select(SlaTimer).where(SlaTimer.metric == "first_response")
            )
        }
    assert policies[number] == "key-account"
    assert policies[globex_ticket] == "key-account"
    assert policies[outsider_ticket] == "standard"


async def test_a_portfolio_handover_moves_the_accounts_too(database_url: str, runtime: Runtime):
    people = await seed_staff(database_url)
    alice = await set_agent(runtime, people.alice, capacity=20)
    bob = await set_agent(runtime, people.bob, capacity=20)
    carol = await agent_id(runtime, people.carol)
    contact, _ = await customer_writing(runtime, "buyer@acme.test", 1)
    acme = await _account(runtime, carol, name="Acme", manager_id=alice, backup_id=carol)
    initech = await _account(runtime, carol, name="Initech", manager_id=carol, backup_id=alice)
    await _standing(runtime, contact, carol, account_id=acme)
    async with runtime.db.transaction() as session:
        handover = await managers.hand_over_portfolio(
            session, alice, bob, by_agent_id=carol, now=runtime.clock.now(), note="Alice moves"
        )
    assert handover.customer_ids == [contact]
    async with runtime.db.read() as session:
        moved = {a: await accounts.get_account(session, a) for a in (acme, initech)}
        assert (moved[acme].manager_id, moved[acme].backup_id) == (bob, carol)
        assert (moved[initech].manager_id, moved[initech].backup_id) == (carol, bob)
    _, number = await customer_writing(runtime, "buyer@acme.test", 2)
    assert (await ticket(runtime, number)).assignee_id == bob
