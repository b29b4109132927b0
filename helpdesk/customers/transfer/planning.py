"""What each row of a batch changes, decided against the database before anything is written.

A row matches a stored customer by its external_ref, else by a verified email identity, else
it is a new customer. A row that would take another customer's address, or touch a customer an
earlier row already changed, is rejected whole: the import never merges customers (merging is
an agent's decision, with its audit) and never half-applies a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from helpdesk.customers.models import Customer, Identity
from helpdesk.customers.transfer.columns import ParsedRow, RowRejected
from helpdesk.customers.transfer.references import AccountBook, AccountEntry, Managers
from helpdesk.routing.models import CustomerManager

# The customers' columns an import writes; `account` stands for account_id until accounts
# the import creates have their ids.
STORED = ("external_ref", "name", "email", "phone", "language", "value", "tier_override")
# An empty cell in these leaves what is stored: they name the customer rather than describe.
KEEP_WHEN_EMPTY = frozenset({"external_ref", "name", "email"})

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(slots=True)
class Change:
    row: ParsedRow
    outcome: Outcome
    customer_id: int | None
    values: dict[str, Any]
    # None with `account_given` clears the account; without it the stored one is kept.
    account: AccountEntry | None
    account_given: bool = False
    kept_account_id: int | None = None
    identity: Literal["insert", "verify"] | None = None
    identity_id: int | None = None
    manager: Literal["insert", "update"] | None = None
    manager_id: int | None = None
    backup_id: int | None = None
    tier_change: tuple[str | None, str] | None = None


@dataclass(slots=True)
class Context:
    """What the whole import shares: the references, and which customer each row changed."""

    accounts: AccountBook
    managers: Managers
    touched: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    changes: list[Change] = field(default_factory=list)
    rejects: list[tuple[ParsedRow, str]] = field(default_factory=list)
    # Customer id -> the row that changed it; joins `Context.touched` once the batch is written.
    touched: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Owner:
    identity_id: int
    customer_id: int
    verified: bool


def one_of(
    session: AsyncSession, column: InstrumentedAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter rather than thousands,
    so the statement is the same whatever the batch holds and is prepared once."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))


async def plan_batch(session: AsyncSession, rows: list[ParsedRow], context: Context) -> Plan:
    refs = [row.external_ref for row in rows if row.external_ref is not None]
    emails = [row.email for row in rows if row.email is not None]
    by_ref: dict[str, int] = {}
    if refs:
        found = await session.execute(
            select(Customer.external_ref, Customer.id).where(
                one_of(session, Customer.external_ref, refs)
            )
        )
        by_ref = {ref: customer_id for ref, customer_id in found if ref is not None}
    owners: dict[str, _Owner] = {}
    if emails:
        found = await session.execute(
            select(Identity.address, Identity.id, Identity.customer_id, Identity.verified).where(
                Identity.channel == "email", one_of(session, Identity.address, emails)
            )
        )
        owners = {row.address: _Owner(row.id, row.customer_id, row.verified) for row in found}
    ids = set(by_ref.values()) | {owner.customer_id for owner in owners.values()}
    current = await _customers(session, ids)
    managers = await _managers(session, ids)
    plan = Plan()
    for row in rows:
        try:
            plan.changes.append(_plan_row(row, by_ref, owners, current, managers, context, plan))
        except RowRejected as exc:
            plan.rejects.append((row, str(exc)))
    return plan


async def _customers(session: AsyncSession, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    columns = [getattr(Customer, name) for name in STORED]
    rows = await session.execute(
        select(Customer.id, Customer.account_id, Customer.tier, *columns).where(
            one_of(session, Customer.id, list(ids))
        )
    )
    return {row.id: row._asdict() for row in rows}


async def _managers(session: AsyncSession, ids: set[int]) -> dict[int, tuple[int | None, ...]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(
            CustomerManager.customer_id, CustomerManager.manager_id, CustomerManager.backup_id
        ).where(one_of(session, CustomerManager.customer_id, list(ids)))
    )
    return {row.customer_id: (row.manager_id, row.backup_id) for row in rows}


def _plan_row(
    row: ParsedRow,
    by_ref: dict[str, int],
    owners: dict[str, _Owner],
    current: dict[int, dict[str, Any]],
    managers: dict[int, tuple[int | None, ...]],
    context: Context,
    plan: Plan,
) -> Change:
    target = _target(row, by_ref, owners, current)
    if target is not None:
        earlier = context.touched.get(target) or plan.touched.get(target)
        if earlier is not None:
            raise RowRejected(f"row {earlier} already changed this customer")
    values = row.values
    agent_id = None
    if values.get("manager") is not None:
        agent_id = context.managers.agent_id(values["manager"])
    # Accounts last: choosing one may create it, which only an accepted row may do.
    account_given = "account" in values or "account_ref" in values
    account = (
        context.accounts.choose(values.get("account"), values.get("account_ref"))
        if account_given
        else None
    )
    stored = current.get(target) if target is not None else None
    change = Change(row, "created", target, _final(values, stored), account, account_given)
    if stored is not None:
        change.kept_account_id = stored["account_id"]
        changed = any(change.values[name] != stored[name] for name in STORED)
        if account_given and (_id(account) != stored["account_id"] or _unwritten(account)):
            changed = True
        change.outcome = "updated" if changed else "unchanged"
    _plan_identity(change, row, owners)
    if "manager" in values:
        _plan_manager(change, agent_id, managers.get(target) if target is not None else None)
    if "tier_override" in values:
        _plan_tier(change, stored)
    if change.outcome == "unchanged" and (change.identity or change.manager or change.tier_change):
        change.outcome = "updated"
    if target is not None:
        plan.touched[target] = row.number
    return change


def _id(account: AccountEntry | None) -> int | None:
    return account.id if account is not None else None


def _unwritten(account: AccountEntry | None) -> bool:
    return account is not None and account.id is None


def _target(
    row: ParsedRow,
    by_ref: dict[str, int],
    owners: dict[str, _Owner],
    current: dict[int, dict[str, Any]],
) -> int | None:
    """The stored customer the row describes, or None for a new one."""
    ref, email = row.external_ref, row.email
    owner = owners.get(email) if email is not None else None
    if ref is not None and ref in by_ref:
        target = by_ref[ref]
        if owner is not None and owner.customer_id != target:
            raise RowRejected(
                f"email {email} belongs to another customer (id {owner.customer_id}); "
                "merge the two customers first"
            )
        return target
    if owner is None:
        return None
    if not owner.verified:
        raise RowRejected(
            f"email {email} was given by customer id {owner.customer_id} and not proven yet; "
            "an unproven address joins nobody: merge or erase that customer first"
        )
    other_ref = current[owner.customer_id]["external_ref"]
    if ref is not None and other_ref is not None:
        raise RowRejected(f"email {email} belongs to the customer with external_ref {other_ref!r}")
    return owner.customer_id


def _final(values: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    final = {name: stored[name] if stored else None for name in STORED}
    if stored is None:
        final["name"] = ""
    for name in STORED:
        if name in values and not (values[name] is None and name in KEEP_WHEN_EMPTY):
            final[name] = values[name]
    return final


def _plan_identity(change: Change, row: ParsedRow, owners: dict[str, _Owner]) -> None:
    if row.email is None:
        return
    owner = owners.get(row.email)
    if owner is None:
        change.identity = "insert"
    elif not owner.verified:
        # The customer's own address, typed in a chat: the import is trusted admin data.
        change.identity, change.identity_id = "verify", owner.identity_id


def _plan_manager(
    change: Change, agent_id: int | None, stored: tuple[int | None, ...] | None
) -> None:
    if stored is None:
        if agent_id is not None:
            change.manager, change.manager_id = "insert", agent_id
        return
    manager_id, backup_id = stored
    if manager_id != agent_id:
        change.manager, change.manager_id = "update", agent_id
        # The backup must be someone else (`routing.managers.set_managers`).
        change.backup_id = None if backup_id == agent_id else backup_id


def _plan_tier(change: Change, stored: dict[str, Any] | None) -> None:
    new = change.values["tier_override"]
    if stored is None:
        if new is not None:
            change.tier_change = (None, new)
        return
    old = stored["tier_override"]
    before, after = old or stored["tier"], new or stored["tier"]
    if new != old and before != after:
        change.tier_change = (before, after)
