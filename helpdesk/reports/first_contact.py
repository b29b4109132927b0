"""First-contact resolution: of the resolved tickets a person answered, the share resolved with
exactly one agent reply (a call or visit an agent logged counts as one) and never reopened.
Tickets only the bot answered are left out: the bot's report counts them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.query import ReportQuery, created_in, keyed
from helpdesk.reports.reopenings import DONE, reopened_tickets
from helpdesk.reports.shares import share
from helpdesk.tickets.models import AGENT_REPLY, Message, Ticket


async def first_contact_resolution(
    session: AsyncSession, query: ReportQuery
) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    # Per ticket of the period, its agents' replies (replies and outgoing touch points), read
    # from the partial index of agents' replies: the condition is the index's, word for word,
    # so that both databases use it.
    per_ticket = (
        select(key, Ticket.id.label("id"), func.count().label("replies"))
        .select_from(Ticket)
        .join(Message, Message.ticket_id == Ticket.id)
        .where(text(AGENT_REPLY), *created_in(query), Ticket.status.in_(DONE))
        .group_by(Ticket.id, *group)
        .subquery()
    )
    first_contact = and_(per_ticket.c.replies == 1, per_ticket.c.id.not_in(reopened_tickets()))
    rows = await session.execute(
        select(per_ticket.c.k, func.count(), func.sum(case((first_contact, 1), else_=0))).group_by(
            per_ticket.c.k
        )
    )
    return {
        k: {
            "resolved": int(resolved),
            "first_contact": int(first or 0),
            "rate": share(int(first or 0), int(resolved)),
        }
        for k, resolved, first in rows
    }
