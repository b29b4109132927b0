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


class NotPermitted(Exception):
    """The agent may not do this (another team's customer or ticket); the message says why."""


async def customer_in_sight(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """An agent sees a customer when it may see one of the customer's tickets, or when the
    customer has none yet (nobody's customer). Supervisors and admins see every customer."""
    if sees_all(agent):
        return True
    theirs = select(Ticket.id).where(Ticket.customer_id == customer_id).limit(1)
    if await session.scalar(theirs) is None:
        return True
    return await session.scalar(theirs.where(visible_to(agent))) is not None


def check_assignment(agent: Agent, team_id: int | None, assignee: Agent | None) -> None:
    """An agent places a ticket in its own teams only, and with members of them (or itself);
    supervisors and admins anywhere. Raises NotPermitted."""
    if sees_all(agent):
        return
    own = {team.id for team in agent.teams}
    if team_id is not None and team_id not in own:
        raise NotPermitted("you may only place a ticket in one of your own teams")
    if assignee is not None and assignee.id != agent.id:
        theirs = {team.id for team in assignee.teams}
        if not theirs & own or (team_id is not None and team_id not in theirs):
            raise NotPermitted(
                "you may only assign a ticket to yourself or to a member of your team"
            )


async def customer_visible(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """Whether the customer exists and the agent may see them; callers answer the same (404)
    for both, so that ids outside an agent's sight reveal nothing."""
    if sees_all(agent):
        condition = exists().where(Customer.id == customer_id)
    else:
        condition = exists().where(Ticket.customer_id == customer_id, visible_to(agent))
    return bool(await session.scalar(select(condition)))
