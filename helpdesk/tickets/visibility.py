"""Who may see a ticket: an agent its own and its teams' tickets and unrouted ones; supervisors
and admins all of them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

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
