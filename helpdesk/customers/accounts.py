"""Accounts (companies) and a customer's standing in them: what admins change by hand.

Every change of a tier that applies (an override set or cleared, a customer joining or leaving
an account) is written to `tier_changes` with who did it and why. A new value changes no tier
by itself: the rule ranks everyone together, so it takes effect at the next recompute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer, TierChange
from helpdesk.customers.settings import CustomersSettings
from helpdesk.customers.standing import effective_tier
from helpdesk.staff.models import Agent

MAX_NAME = 200


class AccountError(ValueError):
    """The change cannot be made; the message says why."""


class AccountConflict(AccountError):
    """Another account already has this name or external reference."""


class NotFound(LookupError):
    """No such account or customer."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change by hand, and the note they give (both go into the reason)."""

    agent_id: int
    role: str
    note: str = ""

    def says(self, what: str) -> str:
        reason = f"{what} by {self.role} {self.agent_id}"
        return f"{reason}: {self.note}" if self.note else reason


def name_key(name: str) -> str:
    """One account per name, whatever its case or spacing."""
    return " ".join(name.split()).casefold()


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


async def contact_counts(session: AsyncSession, account_ids: list[int]) -> dict[int, int]:
    if not account_ids:
        return {}
    rows = await session.execute(
        select(Customer.account_id, func.count())
        .where(Customer.account_id.in_(account_ids))
        .group_by(Customer.account_id)
    )
    return {account_id: count for account_id, count in rows if account_id is not None}


def _check_value(value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise AccountError("a value is a number of zero or more")


def _check_tier(tier: str | None, settings: CustomersSettings) -> None:
    if tier is not None and tier not in settings.tier_names:
        raise AccountError(f"unknown tier {tier!r}; the tiers are {', '.join(settings.tier_names)}")


async def _check_managers(
    session: AsyncSession, manager_id: int | None, backup_id: int | None
) -> None:
    for agent_id in {manager_id, backup_id} - {None}:
        agent = await session.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise AccountError(f"there is no active agent with id {agent_id}")
    if manager_id is not None and manager_id == backup_id:
        raise AccountError("the backup must be someone other than the manager")


async def _check_unique(
    session: AsyncSession, account_id: int | None, key: str | None, external_ref: str | None
) -> None:
    if key is not None:
        other = await session.scalar(select(Account.id).where(Account.name_key == key))
        if other is not None and other != account_id:
            raise AccountConflict(f"account {other} already has this name")
    if external_ref is not None:
        other = await session.scalar(select(Account.id).where(Account.external_ref == external_ref))
        if other is not None and other != account_id:
            raise AccountConflict(f"account {other} already has external_ref {external_ref!r}")


def _record(session: AsyncSession, actor: Actor, now: datetime, **fields: Any) -> None:
    session.add(TierChange(actor_id=actor.agent_id, at=now, **fields))


async def create_account(
    session: AsyncSession,
    fields: Mapping[str, Any],
    settings: CustomersSettings,
    actor: Actor,
    now: datetime,
) -> Account:
    account = Account(name="", name_key="", created_at=now, updated_at=now)
    return await update_account(session, account, fields, settings, actor, now, new=True)


async def update_account(
    session: AsyncSession,
    account: Account,
    fields: Mapping[str, Any],
    settings: CustomersSettings,
    actor: Actor,
    now: datetime,
    *,
    new: bool = False,
) -> Account:
    """Change the given fields (name, external_ref, value, manager_id, backup_id,
    tier_override); the others stay as they are."""
    changes = dict(fields)
    if "name" in changes:
        changes["name"] = " ".join(str(changes["name"]).split())
        if not changes["name"]:
            raise AccountError("an account needs a name")
    _check_value(changes.get("value"))
    _check_tier(changes.get("tier_override"), settings)
    await _check_managers(
        session,
        changes.get("manager_id", account.manager_id),
        changes.get("backup_id", account.backup_id),
    )
    key = name_key(changes["name"]) if "name" in changes else None
    if key is not None and len(key) > MAX_NAME:
        # Folding can lengthen a name (ß -> ss): the key must still fit its column.
        raise AccountError(f"the name is too long: at most {MAX_NAME} characters")
    await _check_unique(session, None if new else account.id, key, changes.get("external_ref"))
    old_effective = account.tier_override or account.tier
    for name, value in changes.items():
        setattr(account, name, value)
    if key is not None:
        account.name_key = key
    account.updated_at = now
    if new:
        session.add(account)
    await session.flush()
    if "tier_override" in changes:
        new_effective = account.tier_override or account.tier
        if new_effective != old_effective:
            what = "override" if account.tier_override else "override cleared"
            _record(
                session,
                actor,
                now,
                account_id=account.id,
                from_tier=old_effective,
                to_tier=new_effective or settings.default_tier,
                reason=actor.says(what),
            )
    return account


async def _customer_effective(session: AsyncSession, customer: Customer) -> str | None:
    account = await session.get(Account, customer.account_id) if customer.account_id else None
    return effective_tier(
        customer.tier,
        customer.tier_override,
        account.tier if account else None,
        account.tier_override if account else None,
    )


async def change_standing(
    session: AsyncSession,
    customer: Customer,
    fields: Mapping[str, Any],
    settings: CustomersSettings,
    actor: Actor,
    now: datetime,
) -> Customer:
    """Set a customer's value, tier override or account (None takes them out of it)."""
    _check_value(fields.get("value"))
    _check_tier(fields.get("tier_override"), settings)
    joined: Account | None = None
    if fields.get("account_id") is not None:
        joined = await get_account(session, fields["account_id"])
    before = await _customer_effective(session, customer)
    old_account = customer.account_id
    for name in ("value", "tier_override", "account_id"):
        if name in fields:
            setattr(customer, name, fields[name])
    after = await _customer_effective(session, customer)
    await session.flush()
    if after == before:
        return customer
    if "tier_override" in fields and fields["tier_override"] is not None:
        what = "override"
    elif "tier_override" in fields:
        what = "override cleared"
    elif joined is not None:
        what = f"joined account {joined.id} ({joined.name})"
    else:
        what = f"left account {old_account}"
    _record(
        session,
        actor,
        now,
        customer_id=customer.id,
        from_tier=before,
        to_tier=after or settings.default_tier,
        reason=actor.says(what),
    )
    return customer


async def hand_over_accounts(
    session: AsyncSession, from_agent_id: int, to_agent_id: int, now: datetime
) -> list[int]:
    """Every account one agent manages or backs up goes to another (routing's portfolio
    handover calls this); where the new manager was the backup, the backup is cleared.
    Returns the ids of the contacts whose relationship manager changed."""
    moved = list(
        await session.scalars(
            select(Account)
            .where(or_(Account.manager_id == from_agent_id, Account.backup_id == from_agent_id))
            .with_for_update()
        )
    )
    for account in moved:
        if account.manager_id == from_agent_id:
            account.manager_id = to_agent_id
            if account.backup_id == to_agent_id:
                account.backup_id = None
        if account.backup_id == from_agent_id:
            account.backup_id = None if account.manager_id == to_agent_id else to_agent_id
        account.updated_at = now
    if not moved:
        return []
    contacts = await session.scalars(
        select(Customer.id).where(Customer.account_id.in_([a.id for a in moved]))
    )
    return list(contacts)


async def tier_changes(
    session: AsyncSession,
    *,
    customer_id: int | None = None,
    account_id: int | None = None,
    limit: int = 100,
) -> list[TierChange]:
    query = select(TierChange)
    if customer_id is not None:
        query = query.where(TierChange.customer_id == customer_id)
    if account_id is not None:
        query = query.where(TierChange.account_id == account_id)
    return list(await session.scalars(query.order_by(TierChange.id.desc()).limit(limit)))
