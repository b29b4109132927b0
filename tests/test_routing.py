"""Routing through the event log on both databases: a new email ticket goes to an online agent
at once, with its reason written down; nobody online means the holding queue."""

from __future__ import annotations

from helpdesk.routing import queries
from helpdesk.routing.models import Presence
from helpdesk.runtime import Runtime
from tests.conftest import seed_staff
from tests.routing_helpers import assignee_soon, mail, set_agent, ticket


async def test_new_email_ticket_goes_to_the_least_loaded_online_agent(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    alice = await set_agent(runtime, "alice@example.test")
    await set_agent(runtime, "bob@example.test", Presence.OFFLINE)

    outcome = await runtime.intake.receive(mail("ann@example.test"))
    await runtime.events.idle()

    routed = await ticket(runtime, outcome.ticket_id)
    assert routed.assignee_id == alice
    async with runtime.db.read() as session:
        [decision] = await queries.decisions(session, outcome.ticket_id)
        assert await queries.unattended(session, runtime.conversation.bot_answers) == []
    assert decision.outcome == "assigned"
    assert "Chosen: Alice Agent" in decision.reason
    assert "Bob Agent (offline)" in decision.reason


async def test_nobody_online_holds_the_ticket_until_an_agent_comes_online(
    database_url: str, runtime: Runtime
):
    await seed_staff(database_url)
    outcome = await runtime.intake.receive(mail("ann@example.test"))
    await runtime.events.idle()
    async with runtime.db.read() as session:
        [held] = await queries.holding_queue(session)
        assert await queries.unattended(session, runtime.conversation.bot_answers) == []
    assert held.ticket_id == outcome.ticket_id
    assert "holding queue" in held.reason

    bob = await set_agent(runtime, "bob@example.test")
    assert await assignee_soon(runtime, outcome.ticket_id) == bob
