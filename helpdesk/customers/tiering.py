"""Tiers from value, by rule: the pure computation (no database), default the Pareto rule.

The units are accounts and customers outside an account. Ranked by value, highest first, each
tier but the last takes the shortest run of units that, with the tiers above it, brings its
cumulative share of the whole value (`CustomersSettings.tiers`); the last tier takes the rest,
and every unit whose value is zero or unknown.

Ranking is a total order, so the answer depends on the units and never on the order they come
in: value, highest first; among equal values accounts before customers, then the lower (older)
id. That order matters only at a tier's boundary: of two units of equal value, one may be key
and the other not, because taking both would make the key set larger than the fewest units that
bring 80% (the rule's promise); the older relationship wins the place.

Sums are exact (decimal, as each value is written), so a rule of 80% means 80%: with values 60,
20 and 20 the first two are key, not all three by a rounding error.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import NamedTuple

from helpdesk.customers.settings import TierRule

RULE = "pareto"
ACCOUNT = "account"
CUSTOMER = "customer"
# Exact arithmetic: no rounding at any size; `Inexact` would say if one happened.
_INF = math.inf
_EXACT = decimal.Context(prec=decimal.MAX_PREC, traps=[decimal.Inexact, decimal.InvalidOperation])


class Unit(NamedTuple):
    """What is tiered: an account (its contacts follow it) or a customer outside one."""

    kind: str  # ACCOUNT or CUSTOMER
    id: int
    value: float | None


class Placement(NamedTuple):
    tier: str
    reason: str


def has_value(value: float | None) -> bool:
    """Only a positive, finite value counts; anything else goes to the last tier."""
    return value is not None and math.isfinite(value) and value > 0


def percent(share: float) -> str:
    return f"{share * 100:g}%"


def reasons(tiers: Sequence[TierRule]) -> tuple[list[str], str]:
    """The reason written for each tier, and the one for units without a value."""
    written = [f"{RULE}: top {percent(rule.value_share)} of value" for rule in tiers[:-1]]
    written.append(f"{RULE}: outside the top {percent(tiers[-2].value_share)} of value")
    return written, f"{RULE}: no value known"


def place(units: Iterable[Unit], tiers: Sequence[TierRule]) -> dict[tuple[str, int], Placement]:
    """Every unit's tier and the reason, keyed by (kind, id). `tiers` is highest first, each
    `value_share` cumulative and the last 1.0 (the settings check it)."""
    if len(tiers) < 2:
        raise ValueError("at least two tiers: the rule needs somewhere to put the rest")
    why, no_value = reasons(tiers)
    units = list(units)
    # Plain tuples sort in C: 100,000 units in a fraction of a second. `0 < v < inf` also
    # leaves out NaN, which fails every comparison.
    order = [(-u.value, u.kind, u.id) for u in units if u.value is not None and 0 < u.value < _INF]
    order.sort()
    placements = dict.fromkeys(((u.kind, u.id) for u in units), Placement(tiers[-1].name, no_value))
    last = Placement(tiers[-1].name, why[-1])
    tier_places = [Placement(rule.name, why[n]) for n, rule in enumerate(tiers[:-1])]
    with decimal.localcontext(_EXACT):
        values = [Decimal(repr(-negative)) for negative, _, _ in order]
        total = sum(values, Decimal(0))
        # A rule's share as the operator wrote it (0.8 is four fifths, not the float near it).
        thresholds = [Decimal(repr(rule.value_share)) * total for rule in tiers[:-1]]
        level, brought = 0, Decimal(0)
        for (_, kind, unit_id), value in zip(order, values, strict=True):
            # A unit joins the highest tier whose share the units above it have not yet brought.
            while level < len(thresholds) and brought >= thresholds[level]:
                level += 1
            placements[(kind, unit_id)] = tier_places[level] if level < len(thresholds) else last
            brought += value
    return placements
