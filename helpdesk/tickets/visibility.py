"""Who may see a ticket: an agent its own and its teams' tickets and unrouted ones; supervisors
and admins all of them. A customer is seen through their tickets: an agent sees a customer with
at least one ticket it may see."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets.models import Ticket


class TicketNotFound(Exception):
    """No such ticket, or not one this agent may see (the two are not told apart)."""


def visible_to(agent: Agent) -> ColumnElement[bool]:
    """A condition on Ticket for queries: the tickets this agent may see."""
    if sees_all(agent):
        return true()
    team_ids = [team.id for team in agent.teams]
    return or_(
        Ticket.assignee_id == agent.id,
        Ticket.team_id.in_(team_ids) if team_ids else false(),
        and_(Ticket.team_id.is_(None), Ticket.assignee_id.is_(None)),
    )


async def visible_ticket(session: AsyncSession, agent: Agent, number: int) -> Ticket:
    ticket = await session.scalar(select(Ticket).where(Ticket.id == number, visible_to(agent)))
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


async def customer_visible(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """Whether the customer exists and the agent may see them; callers answer the same (404)
    for both, so that ids outside an agent's sight reveal nothing."""
    if sees_all(agent):
        condition = exists().where(Customer.id == customer_id)
    else:
        condition = exists().where(Ticket.customer_id == customer_id, visible_to(agent))
    return bool(await session.scalar(select(condition)))
