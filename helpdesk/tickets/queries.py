"""What agents read about tickets: the queue, one ticket with its messages, its audit trail.

Reads only, apart from the actions that change a ticket (`actions`); each takes the caller's
session and hides what the agent may not see (`visibility`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.customers.models import Customer
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)
from helpdesk.tickets.visibility import visible_ticket, visible_to

QueueView = Literal["all", "mine", "team", "unassigned"]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """`view`: all the agent may see, its own, its teams', or not yet assigned."""

    view: QueueView = "all"
    statuses: Sequence[TicketStatus] = ()
    team_id: int | None = None
    customer_id: int | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class QueueRow:
    ticket: Ticket
    customer_name: str


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    # All the tickets the filter matches, not only this page's.
    total: int


@dataclass(frozen=True, slots=True)
class MessageRow:
    message: Message
    # Who wrote it as agents should see it: the agent's name, else the customer's.
    author_name: str


@dataclass(frozen=True, slots=True)
class TicketView:
    ticket: Ticket
    customer: Customer
    messages: list[MessageRow]


async def queue(session: AsyncSession, agent: Agent, filters: QueueFilter) -> QueuePage:
    """The queue, newest activity first."""
    conditions = _queue_conditions(agent, filters)
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*conditions))
    rows = await session.execute(
        select(Ticket, Customer.name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(*conditions)
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(filters.limit)
        .offset(filters.offset)
    )
    return QueuePage([QueueRow(ticket, name) for ticket, name in rows], total or 0)


def _queue_conditions(agent: Agent, filters: QueueFilter) -> list[ColumnElement[bool]]:
    conditions = [visible_to(agent)]
    if filters.view == "mine":
        conditions.append(Ticket.assignee_id == agent.id)
    elif filters.view == "team":
        conditions.append(Ticket.team_id.in_([team.id for team in agent.teams]))
    elif filters.view == "unassigned":
        conditions.append(Ticket.assignee_id.is_(None))
    if filters.statuses:
        conditions.append(Ticket.status.in_(filters.statuses))
    if filters.team_id is not None:
        conditions.append(Ticket.team_id == filters.team_id)
    if filters.customer_id is not None:
        conditions.append(Ticket.customer_id == filters.customer_id)
    return conditions


async def ticket_view(session: AsyncSession, agent: Agent, number: int) -> TicketView:
    """The ticket, its customer with every identity, and all its messages and notes in order.
    Raises TicketNotFound."""
    ticket = await visible_ticket(session, agent, number)
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == ticket.customer_id)
        .options(selectinload(Customer.identities))
    )
    assert customer is not None, "tickets.customer_id is a foreign key"
    rows = await session.execute(
        select(Message, Agent.name)
        .outerjoin(Agent, Agent.id == Message.agent_id)
        .where(Message.ticket_id == ticket.id)
        .options(selectinload(Message.attachments))
        .order_by(Message.id)
    )
    messages = [MessageRow(message, agent_name or customer.name) for message, agent_name in rows]
    return TicketView(ticket, customer, messages)


async def audit_trail(session: AsyncSession, agent: Agent, number: int) -> list[AuditEntry]:
    """Who did what to the ticket, oldest first. Raises TicketNotFound."""
    await visible_ticket(session, agent, number)
    entries = await session.scalars(
        select(AuditEntry).where(AuditEntry.ticket_id == number).order_by(AuditEntry.id)
    )
    return list(entries)


async def latest_customer_message(
    session: AsyncSession, ticket_id: int, *, before: int | None = None
) -> Message | None:
    """The customer's last written message (a tapped button does not count), or the last one
    before message `before`."""
    query = select(Message).where(
        Message.ticket_id == ticket_id,
        Message.direction == Direction.IN,
        Message.payload.is_(None),
    )
    if before is not None:
        query = query.where(Message.id < before)
    return await session.scalar(query.order_by(Message.id.desc()).limit(1))


async def agent_reply(session: AsyncSession, ticket_id: int, message_id: int) -> Message | None:
    """Message `message_id` if it is a reply an agent sent on this ticket."""
    return await session.scalar(
        select(Message).where(
            Message.id == message_id,
            Message.ticket_id == ticket_id,
            Message.direction == Direction.OUT,
            Message.author_type == AuthorType.AGENT,
        )
    )
