"""What customers said: satisfaction (the share of 4-5 answers to the 1-5 question among the
rated tickets) and the recommend score (NPS: % promoters, 9-10, minus % detractors, 0-6, among
the tickets with an answer to the 0-10 question)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.query import ReportQuery, created_in, keyed
from helpdesk.reports.shares import share
from helpdesk.tickets.models import Ticket


async def satisfaction(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    score = Ticket.satisfaction
    rows = await session.execute(
        select(key, func.count(), func.sum(case((score >= 4, 1), else_=0)), func.avg(score))
        .where(*created_in(query), score.is_not(None))
        .group_by(*group)
    )
    return {
        k: {
            "rated": int(rated),
            "satisfied": int(good or 0),
            "share_satisfied": share(int(good or 0), int(rated)),
            "average": None if average is None else round(float(average), 2),
        }
        for k, rated, good, average in rows
    }


async def recommend_score(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    score = Ticket.recommend_score
    rows = await session.execute(
        select(
            key,
            func.count(),
            func.sum(case((score >= 9, 1), else_=0)),
            func.sum(case((score <= 6, 1), else_=0)),
        )
        .where(*created_in(query), score.is_not(None))
        .group_by(*group)
    )
    out: dict[Any, dict[str, Any]] = {}
    for k, answered, promoters, detractors in rows:
        n, good, bad = int(answered), int(promoters or 0), int(detractors or 0)
        out[k] = {
            "answered": n,
            "promoters": good,
            "passives": n - good - bad,
            "detractors": bad,
            "score": None if n == 0 else round(100 * (good - bad) / n, 1),
        }
    return out
