"""Property-based tests of the routing decision (hypothesis) over random agents, presences,
capacities, relationships and streams of tickets: nobody over capacity, nobody offline or
disabled chosen, the manager chosen whenever eligible, every ticket given or held, and the same
state giving the same choice. The database-backed properties are in test_routing_invariants.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.routing.models import Presence, Strategy
from helpdesk.routing.pipeline import Candidate, Context, Relationship, decide, skip_reason
from helpdesk.routing.rules import Rule, TicketFacts

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNELS = ("email", "webchat", "telegram")
SKILLS = ("billing", "cards", "loans")
LANGUAGES = ("en", "de", "ru")


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(1, 12))
    found = []
    for agent_id in range(1, count + 1):
        found.append(
            Candidate(
                agent_id=agent_id,
                name=f"Agent {agent_id}",
                active=draw(st.booleans() | st.just(True)),
                presence=draw(st.sampled_from(list(Presence))),
                in_shift=draw(st.booleans() | st.just(True)),
                teams=frozenset(draw(st.sets(st.integers(1, 3), max_size=3))),
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS)))),
                languages=frozenset(draw(st.sets(st.sampled_from(LANGUAGES)))),
                channels=frozenset(draw(st.sets(st.sampled_from(CHANNELS)))),
                capacity=draw(st.integers(0, 6)),
                load=0,
                weight=draw(st.integers(1, 3)),
                channel_weights=draw(
                    st.dictionaries(st.sampled_from(CHANNELS), st.integers(1, 3), max_size=2)
                ),
                last_assigned_at=draw(
                    st.none() | st.integers(0, 600).map(lambda s: NOW - timedelta(seconds=s))
                ),
            )
        )
    return found


rules = st.none() | st.builds(
    lambda team, skills, priority: Rule.build(
        "drawn", {}, team_id=team, skills=skills, priority=priority
    ),
    st.none() | st.integers(1, 3),
    st.lists(st.sampled_from(SKILLS), max_size=2, unique=True),
    st.none() | st.sampled_from(["high", "urgent"]),
)
relationships = st.builds(
    Relationship,
    manager_id=st.none() | st.integers(1, 12),
    backup_id=st.none() | st.integers(1, 12),
    key_account=st.booleans(),
)
facts = st.builds(
    TicketFacts,
    ticket_id=st.integers(1, 10_000),
    channel=st.sampled_from(CHANNELS),
    kind=st.just("question"),
    priority=st.just("normal"),
    text=st.just("hello"),
    language=st.none() | st.sampled_from(LANGUAGES),
    tier=st.just("standard"),
    key_account=st.booleans(),
    trigger=st.just("new ticket"),
    customer_id=st.integers(1, 5),
)
contexts = st.builds(
    Context,
    channel_weights=st.just({"webchat": 2, "telegram": 2}),
    key_account_wait=st.just(timedelta(minutes=30)),
    strategy=st.sampled_from(list(Strategy)),
)
held_for = st.integers(0, 3600).map(lambda s: NOW - timedelta(seconds=s))


@settings(max_examples=150, deadline=None)
@given(
    candidates(), st.lists(st.tuples(facts, rules, relationships, held_for), max_size=40), contexts
)
def test_a_stream_of_tickets_never_overloads_nor_reaches_the_absent(
    agents: list[Candidate],
    stream: list[tuple[TicketFacts, Rule | None, Relationship, datetime]],
    context: Context,
):
    for ticket, rule, relationship, held_since in stream:
        decision = decide(
            ticket, rule, agents, relationship, context, held_since=held_since, now=NOW
        )
        if decision.agent_id is None:
            assert "holding queue" in decision.reason or decision.wait_for_id is not None
            continue
        chosen = next(a for a in agents if a.agent_id == decision.agent_id)
        assert chosen.active and chosen.presence == Presence.ONLINE and chosen.in_shift
        chosen.load += chosen.ticket_weight(ticket.channel, context.channel_weights)
        assert chosen.load <= chosen.capacity
        assert f"Chosen: {chosen.name}" in decision.reason


@settings(max_examples=150, deadline=None)
@given(candidates(), facts, rules, relationships, contexts, held_for)
def test_the_manager_is_chosen_whenever_eligible_and_the_same_state_gives_the_same_choice(
    agents: list[Candidate],
    ticket: TicketFacts,
    rule: Rule | None,
    relationship: Relationship,
    context: Context,
    held_since: datetime,
):
    decision = decide(ticket, rule, agents, relationship, context, held_since=held_since, now=NOW)
    again = decide(
        ticket,
        rule,
        copy.deepcopy(agents),
        relationship,
        context,
        held_since=held_since,
        now=NOW,
    )
    assert decision == again
    by_id = {a.agent_id: a for a in agents}
    manager = by_id.get(relationship.manager_id or 0)
    if manager is not None and skip_reason(manager, ticket, rule, context, need_team=False) is None:
        assert decision.agent_id == manager.agent_id
        assert "relationship manager" in decision.reason
    elif decision.agent_id is not None and decision.agent_id != relationship.backup_id:
        # Chosen from the team: every eligible member was considered.
        chosen = by_id[decision.agent_id]
        assert skip_reason(chosen, ticket, rule, context, need_team=True) is None


@settings(max_examples=100, deadline=None)
@given(candidates(), facts, relationships, contexts)
def test_a_key_account_waits_for_its_offline_manager_only_up_to_the_limit(
    agents: list[Candidate], ticket: TicketFacts, relationship: Relationship, context: Context
):
    manager_id = agents[0].agent_id
    agents[0].presence = Presence.OFFLINE
    agents[0].active = True
    key = Relationship(manager_id, relationship.backup_id, key_account=True)
    fresh = decide(ticket, None, agents, key, context, held_since=NOW, now=NOW)
    assert fresh.agent_id is None and fresh.wait_for_id == manager_id
    late = NOW - context.key_account_wait
    expired = decide(ticket, None, agents, key, context, held_since=late, now=NOW)
    assert expired.wait_for_id is None and expired.agent_id != manager_id
