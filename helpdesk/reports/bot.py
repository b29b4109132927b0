"""The answer bot's decisions in the period: answered, handed over to a person, refused. By
the decision's time; grouped and filtered by its ticket's team and assignee as they are now."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.kb.models import BotDecision, BotDecisionKind
from helpdesk.reports.query import GroupBy, ReportQuery, filters, keyed
from helpdesk.tickets.models import Ticket


async def bot_decisions(session: AsyncSession, query: ReportQuery) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    rows = await session.execute(
        select(key, BotDecision.kind, func.count())
        .select_from(BotDecision)
        .join(Ticket, Ticket.id == BotDecision.ticket_id)
        .where(
            BotDecision.created_at >= query.period.start,
            BotDecision.created_at < query.period.end,
            *filters(query),
        )
        .group_by(*group, BotDecision.kind)
    )
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: {k.value: 0 for k in BotDecisionKind})
    for k, kind, count in rows:
        out[k][BotDecisionKind(kind).value] = int(count)
    if query.group_by == GroupBy.NONE:
        out[None]  # one row, zeros when there was nothing to count
    for figures in out.values():
        figures["total"] = sum(figures.values())
    return dict(out)
