"""Loyalty of one or many customers, from their tickets' ratings and complaints in the window:
two statements whatever the number of customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.loyalty import Classification, Evidence, classify
from helpdesk.tickets.models import Ticket, TicketKind

# Up to this many customers are asked for by id (the index on tickets' customer); for more, one
# pass over the window's tickets is cheaper than many long IN lists.
BY_ID = 2000


async def evidence_of(
    session: AsyncSession, customer_ids: Iterable[int], *, since: datetime
) -> dict[int, Evidence]:
    """Two statements: the window's ratings and recommend answers, then its complaints."""
    ids = sorted(set(customer_ids))
    wanted = set(ids)
    ratings: dict[int, list[int]] = defaultdict(list)
    recommend: dict[int, list[int]] = defaultdict(list)
    complaints: dict[int, int] = {}
    answers = select(
        Ticket.customer_id,
        Ticket.satisfaction,
        Ticket.satisfaction_at,
        Ticket.recommend_score,
        Ticket.recommend_at,
    ).where(or_(Ticket.satisfaction_at >= since, Ticket.recommend_at >= since))
    complained = (
        select(Ticket.customer_id, func.count())
        .where(Ticket.kind == TicketKind.COMPLAINT, Ticket.created_at >= since)
        .group_by(Ticket.customer_id)
    )
    if len(ids) <= BY_ID:
        answers = answers.where(Ticket.customer_id.in_(ids))
        complained = complained.where(Ticket.customer_id.in_(ids))
    rows = sorted(
        (row for row in await session.execute(answers) if row[0] in wanted),
        key=lambda row: (row[2] or row[4], row[0]),
    )
    for customer_id, score, rated_at, nps, nps_at in rows:
        if score is not None and rated_at is not None and rated_at >= since:
            ratings[customer_id].append(score)
        if nps is not None and nps_at is not None and nps_at >= since:
            recommend[customer_id].append(nps)
    for customer_id, count in await session.execute(complained):
        if customer_id in wanted:
            complaints[customer_id] = count
    return {
        customer_id: Evidence(
            tuple(ratings.get(customer_id, ())),
            tuple(recommend.get(customer_id, ())),
            complaints.get(customer_id, 0),
        )
        for customer_id in ids
    }


async def loyalty_of(
    session: AsyncSession, customer_ids: Iterable[int], *, now: datetime, window_days: int
) -> dict[int, Classification]:
    """Each customer's classification and its reasons (`loyalty.classify`)."""
    since = now - timedelta(days=window_days)
    evidence = await evidence_of(session, customer_ids, since=since)
    return {customer_id: classify(found) for customer_id, found in evidence.items()}
