"""Relationship managers: who looks after a customer, and handing a portfolio over.

`relationships_for` is the one lookup routing uses: when the customers issue computes tiers and
accounts, the answer changes here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.accounts import hand_over_accounts
from helpdesk.customers.models import Customer
from helpdesk.customers.standing import standings
from helpdesk.routing.models import CustomerManager, PortfolioHandover
from helpdesk.routing.pipeline import Relationship
from helpdesk.staff.models import Agent
from helpdesk.storage.among import among


class ManagerError(ValueError):
    """The change cannot be made; the message says why."""


async def relationships_for(
    session: AsyncSession, customer_ids: Iterable[int], *, key_tier: str = "key"
) -> dict[int, Relationship]:
    """Each customer's manager, backup, tier and whether they are a key account. A manager set
    on the customer comes first, then their account's."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    standing = await standings(session, ids)
    own = {
        row.customer_id: row
        for row in await session.scalars(
            select(CustomerManager).where(among(session, CustomerManager.customer_id, ids))
        )
    }
    relationships = {}
    for customer_id, stand in standing.items():
        mine = own.get(customer_id)
        manager_id = mine.manager_id if mine and mine.manager_id else stand.account_manager_id
        backup_id = mine.backup_id if mine and mine.manager_id else stand.account_backup_id
        relationships[customer_id] = Relationship(
            manager_id=manager_id,
            backup_id=backup_id,
            key_account=bool(mine and mine.key_account) or stand.tier == key_tier,
            tier=stand.tier,
        )
    return relationships


async def relationship_for(session: AsyncSession, customer_id: int) -> Relationship:
    return (await relationships_for(session, [customer_id])).get(customer_id, Relationship())


async def set_managers(
    session: AsyncSession,
    customer_id: int,
    *,
    manager_id: int | None,
    backup_id: int | None,
    key_account: bool,
    now: datetime,
) -> CustomerManager:
    if await session.get(Customer, customer_id) is None:
        raise ManagerError(f"there is no customer with id {customer_id}")
    for agent_id in {manager_id, backup_id} - {None}:
        agent = await session.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise ManagerError(f"there is no active agent with id {agent_id}")
    if manager_id is not None and manager_id == backup_id:
        raise ManagerError("the backup must be someone other than the manager")
    row = await session.get(CustomerManager, customer_id)
    if row is None:
        row = CustomerManager(customer_id=customer_id, updated_at=now)
        session.add(row)
    row.manager_id, row.backup_id, row.key_account = manager_id, backup_id, key_account
    row.updated_at = now
    await session.flush()
    return row


async def hand_over_portfolio(
    session: AsyncSession,
    from_agent_id: int,
    to_agent_id: int,
    *,
    by_agent_id: int | None,
    now: datetime,
    note: str = "",
) -> PortfolioHandover:
    """Every customer managed (or backed up) by one agent goes to another, in one recorded
    action. Where the new manager was the backup, the backup is cleared."""
    if from_agent_id == to_agent_id:
        raise ManagerError("hand the portfolio to someone else")
    target = await session.get(Agent, to_agent_id)
    if target is None or not target.active:
        raise ManagerError(f"there is no active agent with id {to_agent_id}")
    if await session.get(Agent, from_agent_id) is None:
        raise ManagerError(f"there is no agent with id {from_agent_id}")
    rows = list(
        await session.scalars(
            select(CustomerManager)
            .where(
                or_(
                    CustomerManager.manager_id == from_agent_id,
                    CustomerManager.backup_id == from_agent_id,
                )
            )
            .with_for_update()
        )
    )
    for row in rows:
        if row.manager_id == from_agent_id:
            row.manager_id = to_agent_id
            if row.backup_id == to_agent_id:
                row.backup_id = None
        if row.backup_id == from_agent_id:
            row.backup_id = None if row.manager_id == to_agent_id else to_agent_id
        row.updated_at = now
    # The accounts they look after go too; their contacts count among the customers handed over.
    contacts = await hand_over_accounts(session, from_agent_id, to_agent_id, now)
    handover = PortfolioHandover(
        from_agent_id=from_agent_id,
        to_agent_id=to_agent_id,
        by_agent_id=by_agent_id,
        customer_ids=sorted({row.customer_id for row in rows} | set(contacts)),
        note=note[:2000],
        at=now,
    )
    session.add(handover)
    await session.flush()
    return handover


async def portfolio(session: AsyncSession, agent_id: int) -> list[CustomerManager]:
    return list(
        await session.scalars(
            select(CustomerManager)
            .where(
                or_(CustomerManager.manager_id == agent_id, CustomerManager.backup_id == agent_id)
            )
            .order_by(CustomerManager.customer_id)
        )
    )
