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


def agent_replies() -> Any:
    """Per ticket, how many messages an agent sent (replies and outgoing touch points)."""
    return (
        select(Message.ticket_id.label("ticket_id"), func.count().label("replies"))
        # The index's own condition, word for word, so that both databases use it.
        .where(text(AGENT_REPLY))
        .group_by(Message.ticket_id)
        .subquery()
    )


async def first_contact_resolution(
    session: AsyncSession, query: ReportQuery
) -> dict[Any, dict[str, Any]]:
    key, group = keyed(query.group_by)
    replies = agent_replies()
    first_contact = and_(replies.c.replies == 1, Ticket.id.not_in(reopened_tickets()))
    rows = await session.execute(
        select(key, func.count(), func.sum(case((first_contact, 1), else_=0)))
        .select_from(Ticket)
        .join(replies, replies.c.ticket_id == Ticket.id)
        .where(*created_in(query), Ticket.status.in_(DONE))
        .group_by(*group)
    )
    return {
        k: {
            "resolved": int(resolved),
            "first_contact": int(first or 0),
            "rate": share(int(first or 0), int(resolved)),
        }
        for k, resolved, first in rows
    }
