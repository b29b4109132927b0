"""Reads: why a ticket went where it went, the holding queue, and the fairness check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.routing.models import HeldTicket, RoutingDecision
from helpdesk.tickets.models import OPEN_STATUSES, Ticket


async def decisions(session: AsyncSession, ticket_id: int) -> list[RoutingDecision]:
    """Every routing decision on the ticket, oldest first."""
    return list(
        await session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.ticket_id == ticket_id)
            .order_by(RoutingDecision.id)
        )
    )


async def holding_queue(session: AsyncSession, limit: int = 100) -> list[HeldTicket]:
    return list(
        await session.scalars(
            select(HeldTicket)
            .order_by(HeldTicket.urgency, HeldTicket.held_since, HeldTicket.ticket_id)
            .limit(limit)
        )
    )


@dataclass(frozen=True, slots=True)
class Unattended:
    ticket_id: int
    channel: str
    status: str
    created_at: datetime
    updated_at: datetime


async def unattended(
    session: AsyncSession, bot_answers: Callable[[str], bool], limit: int = 1000
) -> list[Unattended]:
    """Open tickets a person must answer that are neither assigned nor in the holding queue.
    The fairness rule says this is always empty (once routing's reactions have caught up).
    A ticket still with the answer bot is not yet a person's."""
    held = select(HeldTicket.ticket_id)
    rows = await session.execute(
        select(
            Ticket.id,
            Ticket.channel,
            Ticket.status,
            Ticket.created_at,
            Ticket.updated_at,
            Ticket.handed_over_at,
        )
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.assignee_id.is_(None),
            Ticket.id.not_in(held),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    return [
        Unattended(row.id, row.channel, row.status.value, row.created_at, row.updated_at)
        for row in rows
        if row.handed_over_at is not None or not bot_answers(row.channel)
    ]
