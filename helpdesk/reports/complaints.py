"""Complaints by root cause: the complaint tickets created in the period, counted by the root
cause of their latest resolution; those not resolved yet are counted apart."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.query import GroupBy, ReportQuery, created_in, keyed
from helpdesk.tickets.models import ComplaintResolution, Ticket, TicketKind


async def complaints_by_root_cause(
    session: AsyncSession, query: ReportQuery
) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    latest = (
        select(func.max(ComplaintResolution.id).label("id"))
        .group_by(ComplaintResolution.ticket_id)
        .subquery()
    )
    resolution = (
        select(ComplaintResolution.ticket_id, ComplaintResolution.root_cause)
        .join(latest, latest.c.id == ComplaintResolution.id)
        .subquery()
    )
    rows = await session.execute(
        select(key, resolution.c.root_cause, func.count())
        .select_from(Ticket)
        .outerjoin(resolution, resolution.c.ticket_id == Ticket.id)
        .where(*created_in(query), Ticket.kind == TicketKind.COMPLAINT)
        .group_by(*group, resolution.c.root_cause)
    )
    out: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"complaints": 0, "unresolved": 0, "by_root_cause": {}}
    )
    for k, cause, count in rows:
        figures = out[k]
        figures["complaints"] += int(count)
        if cause is None:
            figures["unresolved"] += int(count)
        else:
            figures["by_root_cause"][cause] = int(count)
    for figures in out.values():
        ordered = sorted(figures["by_root_cause"].items(), key=lambda item: (-item[1], item[0]))
        figures["by_root_cause"] = dict(ordered)
    if query.group_by == GroupBy.NONE:
        out[None]  # one row, zeros when there was nothing to count
    return dict(out)
