"""SLA breach rate: of the tickets with service-level timers, the share with at least one
breached timer (a target passed, whether the reply or resolution came late or not yet), and
the same per metric (first response, next response, resolution) over the timers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.query import GroupBy, ReportQuery, created_in, keyed
from helpdesk.reports.shares import share
from helpdesk.sla.models import SlaTimer
from helpdesk.tickets.models import Ticket


async def sla_breaches(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    breached = case((SlaTimer.breached_at.is_not(None), 1), else_=0)
    per_ticket = (
        select(SlaTimer.ticket_id.label("ticket_id"), func.max(breached).label("breached"))
        .group_by(SlaTimer.ticket_id)
        .subquery()
    )
    tickets = await session.execute(
        select(key, func.count(), func.sum(per_ticket.c.breached))
        .select_from(Ticket)
        .join(per_ticket, per_ticket.c.ticket_id == Ticket.id)
        .where(*created_in(query))
        .group_by(*group)
    )
    out: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"tickets": 0, "breached": 0, "rate": None, "by_metric": {}}
    )
    for k, count, late in tickets:
        out[k].update(tickets=int(count), breached=int(late or 0))
        out[k]["rate"] = share(int(late or 0), int(count))
    timers = await session.execute(
        select(key, SlaTimer.metric, func.count(), func.sum(breached))
        .select_from(Ticket)
        .join(SlaTimer, SlaTimer.ticket_id == Ticket.id)
        .where(*created_in(query))
        .group_by(*group, SlaTimer.metric)
    )
    for k, metric, count, late in timers:
        out[k]["by_metric"][metric] = {
            "timers": int(count),
            "breached": int(late or 0),
            "rate": share(int(late or 0), int(count)),
        }
    if query.group_by == GroupBy.NONE:
        out[None]  # one row, zeros when there was nothing to count
    return dict(out)
