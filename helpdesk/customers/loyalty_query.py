"""Loyalty of one or many customers, from their tickets' ratings and complaints in the window:
three statements whatever the number of customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.loyalty import Classification, Evidence, classify
from helpdesk.tickets.models import Ticket, TicketKind

# Customers per statement: well under every driver's limit on bound parameters.
CHUNK = 5000


async def evidence_of(
    session: AsyncSession, customer_ids: Iterable[int], *, since: datetime
) -> dict[int, Evidence]:
    ids = sorted(set(customer_ids))
    ratings: dict[int, list[int]] = defaultdict(list)
    recommend: dict[int, list[int]] = defaultdict(list)
    complaints: dict[int, int] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for customer_id, score in await session.execute(
            select(Ticket.customer_id, Ticket.satisfaction)
            .where(
                Ticket.customer_id.in_(chunk),
                Ticket.satisfaction.is_not(None),
                Ticket.satisfaction_at >= since,
            )
            .order_by(Ticket.satisfaction_at, Ticket.id)
        ):
            if score is not None:
                ratings[customer_id].append(score)
        for customer_id, score in await session.execute(
            select(Ticket.customer_id, Ticket.recommend_score)
            .where(
                Ticket.customer_id.in_(chunk),
                Ticket.recommend_score.is_not(None),
                Ticket.recommend_at >= since,
            )
            .order_by(Ticket.recommend_at, Ticket.id)
        ):
            if score is not None:
                recommend[customer_id].append(score)
        for customer_id, count in await session.execute(
            select(Ticket.customer_id, func.count())
            .where(
                Ticket.customer_id.in_(chunk),
                Ticket.kind == TicketKind.COMPLAINT,
                Ticket.created_at >= since,
            )
            .group_by(Ticket.customer_id)
        ):
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
