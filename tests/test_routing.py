"""Routing through the event log on both databases: a new email ticket goes to an online agent
at once, with its reason written down; nobody online means the holding queue."""

from __future__ import annotations

from pathlib import Path

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
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


async def test_configured_rules_route_and_a_rule_naming_no_team_is_left_out(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        routing={
            "rules": [
                {"name": "typo", "when": {"channel": "email"}, "team": "Biling"},
                {"name": "money", "when": {"keywords": ["refund"]}, "team": "Billing"},
            ]
        },
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    try:
        await set_agent(runtime, "alice@example.test")
        carol = await set_agent(runtime, "carol@example.test")
        outcome = await runtime.intake.receive(mail("ann@example.test", text="A refund, please"))
        await runtime.events.idle()
        assert (await ticket(runtime, outcome.ticket_id)).assignee_id == carol
        async with runtime.db.read() as session:
            [decision] = await queries.decisions(session, outcome.ticket_id)
        assert decision.reason.startswith("Matched rule 'money'")
    finally:
        await runtime.stop()
