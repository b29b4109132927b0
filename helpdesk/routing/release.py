"""Taking tickets back from an agent: they handed one back, stayed offline past the grace
period (their unanswered tickets), or were disabled (all of them). The caller routes them again
in the same transaction, so none is left neither assigned nor held."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import TicketReleased
from helpdesk.routing.models import RoutingDecision, short_trigger
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import OPEN_STATUSES, AuthorType, Direction, Message, Ticket


def answered() -> object:
    """A condition on Ticket: an agent has written to the customer since their last message."""
    return exists().where(
        and_(
            Message.ticket_id == Ticket.id,
            Message.direction == Direction.OUT,
            Message.author_type == AuthorType.AGENT,
            Message.created_at >= func.coalesce(Ticket.last_customer_message_at, Ticket.created_at),
        )
    )


async def release(
    session: AsyncSession,
    agent_id: int,
    reason: str,
    *,
    now: datetime,
    unanswered_only: bool,
    ticket_ids: list[int] | None = None,
    lock: bool = True,
) -> list[int]:
    """Unassign the agent's open tickets (or those of `ticket_ids`); returns their ids."""
    query = select(Ticket).where(Ticket.assignee_id == agent_id, Ticket.status.in_(OPEN_STATUSES))
    if unanswered_only:
        query = query.where(~answered())  # type: ignore[operator]
    if ticket_ids is not None:
        query = query.where(Ticket.id.in_(ticket_ids))
    if lock:
        query = query.with_for_update()
    tickets = list(await session.scalars(query.order_by(Ticket.id)))
    for ticket in tickets:
        ticket.assignee_id = None
        ticket.updated_at = now
        session.add(
            RoutingDecision(
                ticket_id=ticket.id,
                at=now,
                outcome="released",
                agent_id=agent_id,
                trigger=short_trigger(reason),
                reason=f"Taken back from agent {agent_id}: {reason}.",
            )
        )
        record(session, TicketReleased(ticket.id, agent_id, reason))
    return [t.id for t in tickets]
