"""Loyal, neutral or vulnerable: a customer's recent ratings and complaints, judged by one pure
rule so that a manager can read why.

Over the window (`relationships.loyalty_window_days`):

- **vulnerable** when any of: a 1-5 rating of 2 or less, a recommend answer of 6 or less (a
  "detractor"), a complaint;
- **loyal** when there is at least one rating, every rating is 4 or 5, every recommend answer
  given is 9 or 10 (without the recommend question, the ratings alone decide), and no complaint;
- **neutral** otherwise, including a customer who gave no rating at all.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

LOW_RATING = 2
DETRACTOR = 6
HIGH_RATING = 4
PROMOTER = 9


class Loyalty(enum.StrEnum):
    LOYAL = "loyal"
    NEUTRAL = "neutral"
    VULNERABLE = "vulnerable"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the customer said within the window."""

    ratings: Sequence[int] = ()
    recommend_scores: Sequence[int] = ()
    complaints: int = 0


@dataclass(frozen=True, slots=True)
class Classification:
    loyalty: Loyalty
    # In words a manager reads, e.g. "a rating of 2 of 5", "1 complaint".
    reasons: tuple[str, ...]


def classify(evidence: Evidence) -> Classification:
    warnings = _warnings(evidence)
    if warnings:
        return Classification(Loyalty.VULNERABLE, warnings)
    ratings, recommend = evidence.ratings, evidence.recommend_scores
    if not ratings:
        return Classification(Loyalty.NEUTRAL, ("no rating in the window",))
    if all(r >= HIGH_RATING for r in ratings) and all(s >= PROMOTER for s in recommend):
        reasons = [f"{_count(len(ratings), 'rating')}, all {HIGH_RATING} or 5"]
        if recommend:
            reasons.append(f"would recommend us ({', '.join(map(str, recommend))} of 10)")
        return Classification(Loyalty.LOYAL, (*reasons, "no complaint"))
    reasons = []
    if any(r < HIGH_RATING for r in ratings):
        reasons.append(f"ratings of {', '.join(map(str, ratings))} of 5")
    if any(s < PROMOTER for s in recommend):
        reasons.append(f"recommend answers of {', '.join(map(str, recommend))} of 10")
    return Classification(Loyalty.NEUTRAL, tuple(reasons))


def _warnings(evidence: Evidence) -> tuple[str, ...]:
    warnings = []
    low = [r for r in evidence.ratings if r <= LOW_RATING]
    if low:
        warnings.append(f"{_plural(len(low), 'a rating', 'ratings')} of {_list(low)} of 5")
    detractor = [s for s in evidence.recommend_scores if s <= DETRACTOR]
    if detractor:
        warnings.append(
            f"{_plural(len(detractor), 'a recommend answer', 'recommend answers')} of "
            f"{_list(detractor)} of 10"
        )
    if evidence.complaints:
        warnings.append(_count(evidence.complaints, "complaint"))
    return tuple(warnings)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _list(values: Sequence[int]) -> str:
    return ", ".join(map(str, values))
