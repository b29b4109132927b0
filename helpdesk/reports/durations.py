"""Wall-clock durations between two ticket times, and their count, average, p50 and p90 per
group, computed in the database: PostgreSQL's `percentile_cont`, or on SQLite (which has no
percentile aggregate) window functions that fetch only the two ranks each percentile needs.
Both interpolate linearly between the closest ranks, so they give the same figures."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

PERCENTILES = (0.5, 0.9)


@dataclass(frozen=True, slots=True)
class DurationStats:
    count: int
    average: float | None
    p50: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "average_seconds": _round(self.average),
            "p50_seconds": _round(self.p50),
            "p90_seconds": _round(self.p90),
        }


def _round(seconds: float | None) -> float | None:
    # SQLite's julianday arithmetic is off by microseconds; nobody reads past a tenth.
    return None if seconds is None else round(seconds, 1)


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def seconds_between(
    session: AsyncSession, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]
) -> SQLColumnExpression[float]:
    if is_sqlite(session):
        # Times are stored as ISO text: julianday reads them, fractions of a second included.
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


async def duration_stats(
    session: AsyncSession,
    key: SQLColumnExpression[Any],
    group: list[SQLColumnExpression[Any]],
    duration: SQLColumnExpression[float],
    conditions: list[ColumnElement[bool]],
) -> dict[Any, DurationStats]:
    """Per value of `key` (the labelled `k` of `query.keyed`), over the tickets that meet
    `conditions`; `duration` must be non-null for them."""
    if not is_sqlite(session):
        rows = await session.execute(
            select(
                key,
                func.count(),
                func.avg(duration),
                *(func.percentile_cont(p).within_group(duration) for p in PERCENTILES),
            )
            .where(*conditions)
            .group_by(*group)
        )
        return {
            row[0]: DurationStats(int(row[1]), _float(row[2]), _float(row[3]), _float(row[4]))
            for row in rows
        }
    totals = await session.execute(
        select(key, func.count(), func.avg(duration)).where(*conditions).group_by(*group)
    )
    stats = {row[0]: (int(row[1]), _float(row[2])) for row in totals}
    ranks = await _sqlite_ranks(session, key, group, duration, conditions)
    return {
        k: DurationStats(
            count,
            average,
            _interpolate(ranks.get(k, {}), count, PERCENTILES[0]),
            _interpolate(ranks.get(k, {}), count, PERCENTILES[1]),
        )
        for k, (count, average) in stats.items()
    }


async def _sqlite_ranks(
    session: AsyncSession,
    key: SQLColumnExpression[Any],
    group: list[SQLColumnExpression[Any]],
    duration: SQLColumnExpression[float],
    conditions: list[ColumnElement[bool]],
) -> dict[Any, dict[int, float]]:
    """The durations at the ranks (0-based) the percentiles interpolate between."""
    ranked = (
        select(
            key,
            duration.label("d"),
            (func.row_number().over(partition_by=group or None, order_by=duration) - 1).label("r"),
            func.count().over(partition_by=group or None).label("n"),
        )
        .where(*conditions)
        .subquery()
    )
    wanted = []
    for p in PERCENTILES:
        low = cast((ranked.c.n - 1) * p, Integer)  # floor: the position is never negative
        wanted += [ranked.c.r == low, ranked.c.r == low + 1]
    rows = await session.execute(select(ranked.c.k, ranked.c.r, ranked.c.d).where(or_(*wanted)))
    found: dict[Any, dict[int, float]] = defaultdict(dict)
    for k, rank, value in rows:
        found[k][int(rank)] = float(value)
    return found


def _interpolate(values: dict[int, float], count: int, p: float) -> float | None:
    if count == 0 or not values:
        return None
    position = (count - 1) * p
    low = math.floor(position)
    if low + 1 >= count or low + 1 not in values:
        return values[low]
    return values[low] + (position - low) * (values[low + 1] - values[low])


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
