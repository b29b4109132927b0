"""First-response and resolution times, in wall-clock seconds from the ticket's creation:
count, average, p50 and p90. (Business time is the SLA's: its breach report says whether
targets were met.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.durations import duration_stats, seconds_between
from helpdesk.reports.query import ReportQuery, created_in, keyed
from helpdesk.reports.reopenings import DONE
from helpdesk.tickets.models import Ticket


async def first_response_time(
    session: AsyncSession, query: ReportQuery
) -> dict[Any, dict[str, Any]]:
    """Tickets that have had their first response (an agent's reply, call or visit)."""
    key, group = keyed(query.group_by)
    duration = seconds_between(session, Ticket.first_response_at, Ticket.created_at)
    conditions = [*created_in(query), Ticket.first_response_at.is_not(None)]
    stats = await duration_stats(session, key, group, duration, conditions)
    return {k: s.as_dict() for k, s in stats.items()}


async def resolution_time(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    """Tickets resolved or closed now, to their latest resolution."""
    key, group = keyed(query.group_by)
    duration = seconds_between(session, Ticket.resolved_at, Ticket.created_at)
    conditions = [
        *created_in(query),
        Ticket.status.in_(DONE),
        Ticket.resolved_at.is_not(None),
    ]
    stats = await duration_stats(session, key, group, duration, conditions)
    return {k: s.as_dict() for k, s in stats.items()}
