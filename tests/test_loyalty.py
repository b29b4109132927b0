"""Loyal, neutral or vulnerable: the rule on hand examples, and the API over real tickets on
SQLite and PostgreSQL with a fixed clock (ratings and complaints outside the window do not
count)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpdesk.common.clock import FixedClock
from helpdesk.customers.loyalty import Evidence, Loyalty, classify
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import TicketKind
from tests.conftest import People
from tests.email_helpers import api_as
from tests.relationship_helpers import add_customer, add_ticket


@pytest.mark.parametrize(
    ("evidence", "loyalty", "reason"),
    [
        (Evidence(), Loyalty.NEUTRAL, "no rating in the window"),
        (Evidence(ratings=(5, 4)), Loyalty.LOYAL, "2 ratings, all 4 or 5"),
        (Evidence(ratings=(5,), recommend_scores=(10,)), Loyalty.LOYAL, "would recommend us"),
        # A passive recommend answer (7-8) keeps a happy rater neutral.
        (Evidence(ratings=(5,), recommend_scores=(8,)), Loyalty.NEUTRAL, "recommend answers of 8"),
        (Evidence(ratings=(5, 3)), Loyalty.NEUTRAL, "ratings of 5, 3 of 5"),
        (Evidence(ratings=(5, 2)), Loyalty.VULNERABLE, "a rating of 2 of 5"),
        (Evidence(ratings=(4,), recommend_scores=(6,)), Loyalty.VULNERABLE, "of 6 of 10"),
        (Evidence(ratings=(5, 5), complaints=1), Loyalty.VULNERABLE, "1 complaint"),
        (Evidence(complaints=2), Loyalty.VULNERABLE, "2 complaints"),
    ],
)
def test_the_rule_on_hand_examples(evidence: Evidence, loyalty: Loyalty, reason: str):
    verdict = classify(evidence)
    assert verdict.loyalty == loyalty
    assert any(reason in r for r in verdict.reasons), verdict.reasons


ratings = st.lists(st.integers(1, 5), max_size=8)
answers = st.lists(st.integers(0, 10), max_size=8)


@given(ratings, answers, st.integers(0, 3), st.randoms())
def test_the_order_of_the_evidence_never_changes_the_class(
    scores: list[int], nps: list[int], complaints: int, random
):
    before = classify(Evidence(tuple(scores), tuple(nps), complaints)).loyalty
    random.shuffle(scores)
    random.shuffle(nps)
    assert classify(Evidence(tuple(scores), tuple(nps), complaints)).loyalty == before


@given(ratings, answers, st.integers(0, 3), st.integers(1, 2))
def test_a_low_rating_always_makes_a_customer_vulnerable(
    scores: list[int], nps: list[int], complaints: int, low: int
):
    verdict = classify(Evidence((*scores, low), tuple(nps), complaints))
    assert verdict.loyalty == Loyalty.VULNERABLE and verdict.reasons


async def test_loyalty_in_the_api_counts_only_the_window(desk: Runtime, clock: FixedClock):
    now = clock.now()
    async with desk.db.transaction() as session:
        happy = await add_customer(session, "happy", now=now - timedelta(days=400))
        shaken = await add_customer(session, "shaken", now=now - timedelta(days=400))
        # Long ago a complaint and a bad rating; lately only good ratings.
        await add_ticket(session, happy, at=now - timedelta(days=300), satisfaction=1)
        await add_ticket(session, happy, at=now - timedelta(days=200), kind=TicketKind.COMPLAINT)
        await add_ticket(session, happy, at=now - timedelta(days=20), satisfaction=5, recommend=9)
        await add_ticket(session, shaken, at=now - timedelta(days=10), satisfaction=4)
        await add_ticket(session, shaken, at=now - timedelta(days=5), kind=TicketKind.COMPLAINT)
    async with api_as(desk, People().supervisor) as api:
        loyal = (await api.get(f"/api/customers/{happy}/loyalty")).json()
        assert loyal["loyalty"] == "loyal" and loyal["window_days"] == 180
        vulnerable = (await api.get(f"/api/customers/{shaken}/loyalty")).json()
        assert vulnerable["loyalty"] == "vulnerable"
        assert vulnerable["reasons"] == ["1 complaint"]
        assert (await api.get("/api/customers/999999/loyalty")).status_code == 404
