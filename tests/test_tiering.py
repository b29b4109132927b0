"""The Pareto rule on hand-computed examples, and its promises for any input (hypothesis):
the answer does not depend on the order of the units, the key set is the fewest units that
bring 80% of the value, every unit gets exactly one tier, and no value means the last tier."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from helpdesk.customers.settings import CustomersSettings, TierRule
from helpdesk.customers.tiering import ACCOUNT, CUSTOMER, Unit, place

PARETO = CustomersSettings().tiers
THREE = [
    TierRule(name="key", value_share=0.5),
    TierRule(name="gold", value_share=0.9),
    TierRule(name="standard", value_share=1.0),
]


def customers(*values: float | None) -> list[Unit]:
    return [Unit(CUSTOMER, n, value) for n, value in enumerate(values, start=1)]


def tiers_of(units: list[Unit], rules: list[TierRule] = PARETO) -> dict[int, str]:
    return {unit_id: placed.tier for (_, unit_id), placed in place(units, rules).items()}


def test_the_fewest_customers_that_bring_80_percent_are_key():
    # 100 in all: 50 + 20 + 10 = 80 reaches 80%, 50 + 20 = 70 does not.
    assert tiers_of(customers(50, 20, 10, 8, 7, 5)) == {
        1: "key",
        2: "key",
        3: "key",
        4: "standard",
        5: "standard",
        6: "standard",
    }


def test_exactly_80_percent_is_enough_and_decimals_are_taken_as_written():
    # 0.6 + 0.2 is 80% of 1.0 exactly; floating-point sums would call it short and add a third.
    assert tiers_of(customers(0.6, 0.2, 0.2)) == {1: "key", 2: "key", 3: "standard"}
    assert tiers_of(customers(60, 20, 20)) == {1: "key", 2: "key", 3: "standard"}


def test_at_the_boundary_of_equal_values_the_older_unit_wins_the_place():
    # 60 + one 20 reaches 80%: taking both 20s would not be minimal, so the lower id is key.
    units = [Unit(CUSTOMER, 9, 20), Unit(CUSTOMER, 4, 20), Unit(CUSTOMER, 7, 60)]
    assert tiers_of(units) == {7: "key", 4: "key", 9: "standard"}
    # An account and a customer of equal value: the account first.
    mixed = [Unit(CUSTOMER, 1, 20), Unit(ACCOUNT, 5, 20), Unit(CUSTOMER, 2, 60)]
    placed = place(mixed, PARETO)
    assert placed[(ACCOUNT, 5)].tier == "key" and placed[(CUSTOMER, 1)].tier == "standard"


def test_zero_unknown_and_negative_values_go_to_the_last_tier_with_their_reason():
    placed = place(customers(100, 0, None, -5, float("nan"), float("inf")), PARETO)
    assert placed[(CUSTOMER, 1)].tier == "key"
    assert placed[(CUSTOMER, 1)].reason == "pareto: top 80% of value"
    for n in range(2, 7):
        assert placed[(CUSTOMER, n)].tier == "standard"
        assert placed[(CUSTOMER, n)].reason == "pareto: no value known"


def test_nobody_with_a_value_means_everyone_in_the_last_tier():
    assert set(tiers_of(customers(None, 0, 0)).values()) == {"standard"}
    assert tiers_of([]) == {}


def test_three_tiers_each_take_their_cumulative_share():
    # 100 in all: key reaches 50 with 40 + 15; gold reaches 90 with + 15 + 10 + 10; then rest.
    assert tiers_of(customers(40, 15, 15, 10, 10, 5, 5), THREE) == {
        1: "key",
        2: "key",
        3: "gold",
        4: "gold",
        5: "gold",
        6: "standard",
        7: "standard",
    }
    placed = place(customers(40, 15, 15, 10, 10, 5, 5), THREE)
    assert placed[(CUSTOMER, 3)].reason == "pareto: top 90% of value"
    assert placed[(CUSTOMER, 7)].reason == "pareto: outside the top 90% of value"


def test_one_unit_bringing_most_of_the_value_leaves_a_middle_tier_empty():
    assert tiers_of(customers(95, 3, 2), THREE) == {1: "key", 2: "standard", 3: "standard"}


# --- properties -------------------------------------------------------------------------------

values = st.one_of(
    st.none(),
    st.just(0.0),
    st.integers(1, 50).map(float),  # many ties
    st.floats(min_value=0.001, max_value=1e9, allow_nan=False, allow_infinity=False),
)
unit_lists = st.lists(
    st.tuples(st.sampled_from([ACCOUNT, CUSTOMER]), st.integers(1, 10_000), values),
    max_size=60,
    unique_by=lambda t: (t[0], t[1]),
).map(lambda rows: [Unit(*row) for row in rows])


def exact(value: float | None) -> Fraction:
    if value is None or value != value or value <= 0 or value == float("inf"):
        return Fraction(0)
    return Fraction(repr(value))


@given(unit_lists, st.randoms(use_true_random=False))
def test_the_tiers_do_not_depend_on_the_order_of_the_units(units, random):
    shuffled = list(units)
    random.shuffle(shuffled)
    assert place(units, PARETO) == place(shuffled, PARETO)
    assert place(units, THREE) == place(shuffled, THREE)


@given(unit_lists)
def test_every_unit_gets_exactly_one_tier(units):
    for rules in (PARETO, THREE):
        placed = place(units, rules)
        assert set(placed) == {(u.kind, u.id) for u in units}
        assert {p.tier for p in placed.values()} <= {r.name for r in rules}


@given(unit_lists)
def test_the_key_set_brings_80_percent_and_is_minimal(units):
    placed = place(units, PARETO)
    total = sum((exact(u.value) for u in units), Fraction(0))
    key = [u for u in units if placed[(u.kind, u.id)].tier == "key"]
    brought = sum((exact(u.value) for u in key), Fraction(0))
    if total == 0:
        assert key == []
        return
    assert brought >= Fraction(4, 5) * total
    for unit in key:
        assert exact(unit.value) > 0
        # Without any one of them, the key set brings less than 80%.
        assert brought - exact(unit.value) < Fraction(4, 5) * total
    # And no set of fewer units could reach 80%: the largest values of that many fall short.
    largest = sorted((exact(u.value) for u in units), reverse=True)[: len(key) - 1]
    assert sum(largest, Fraction(0)) < Fraction(4, 5) * total


@given(unit_lists)
def test_every_tier_above_the_last_holds_more_value_per_unit_than_those_below(units):
    placed = place(units, THREE)
    rank = {r.name: n for n, r in enumerate(THREE)}
    for a in units:
        for b in units:
            if exact(a.value) > exact(b.value):
                assert rank[placed[(a.kind, a.id)].tier] <= rank[placed[(b.kind, b.id)].tier]
