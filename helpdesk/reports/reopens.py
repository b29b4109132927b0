"""Reopen rate: of the tickets resolved at least once, the share reopened at least once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.query import ReportQuery, created_in, keyed
from helpdesk.reports.reopenings import reopened_tickets
from helpdesk.reports.shares import share
from helpdesk.tickets.models import Ticket


async def reopen_rate(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    reopened = Ticket.id.in_(reopened_tickets())
    # A reopened ticket that is open again has no resolved_at, yet it was resolved once.
    rows = await session.execute(
        select(key, func.count(), func.sum(case((reopened, 1), else_=0)))
        .where(*created_in(query), or_(Ticket.resolved_at.is_not(None), reopened))
        .group_by(*group)
    )
    return {
        k: {
            "resolved": int(resolved),
            "reopened": int(again or 0),
            "rate": share(int(again or 0), int(resolved)),
        }
        for k, resolved, again in rows
    }
