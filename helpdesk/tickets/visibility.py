"""Who may see a ticket: an agent its own and its teams' tickets and unrouted ones; supervisors
and admins all of them. A customer is seen through their tickets: an agent sees a customer with
at least one ticket it may see, or with no ticket yet (`customers_in_sight`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, or_, select, true
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


# Customers asked about at once in one statement; more are looked up in rounds of this many.
SIGHT_ROUND = 500


async def customers_in_sight(
    session: AsyncSession, agent: Agent, customer_ids: Iterable[int]
) -> set[int]:
    """The one rule of which customers an agent sees: those that exist and have a ticket the
    agent may see, or have no ticket at all yet (nobody's customer, such as one just imported).
    Supervisors and admins see every customer. Returns the ids among `customer_ids` in sight."""
    wanted = sorted(set(customer_ids))
    seen: set[int] = set()
    for start in range(0, len(wanted), SIGHT_ROUND):
        ids = wanted[start : start + SIGHT_ROUND]
        existing = set(await session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
        if sees_all(agent) or not existing:
            seen |= existing
            continue
        theirs = select(Ticket.customer_id).where(Ticket.customer_id.in_(existing)).distinct()
        with_tickets = set(await session.scalars(theirs))
        visible = set(await session.scalars(theirs.where(visible_to(agent))))
        seen |= {c for c in existing if c not in with_tickets or c in visible}
    return seen


async def customer_in_sight(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """Whether the customer exists and the agent may see them (`customers_in_sight`); callers
    answer the same (404) for both, so that ids outside an agent's sight reveal nothing."""
    return customer_id in await customers_in_sight(session, agent, [customer_id])


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


# The name the Telegram link used; one rule, so it is the same function.
customer_visible = customer_in_sight
