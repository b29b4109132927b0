"""Accounts (companies), customers' value, tier overrides and accounts, and recomputing tiers.
Supervisors and admins read; only admins change (`staff/permissions.py`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.customers import accounts
from helpdesk.customers.accounts import AccountConflict, AccountError, Actor, NotFound
from helpdesk.customers.models import Account, Customer
from helpdesk.customers.standing import standings
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.web.auth import Admin, Overseer
from helpdesk.web.customer_accounts_schemas import (
    AccountIn,
    AccountOut,
    AccountPage,
    AccountPatch,
    ContactOut,
    RecomputeOut,
    StandingOut,
    StandingPatch,
    TierChangeOut,
)
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

T = TypeVar("T")
router = APIRouter(prefix="/api", tags=["accounts and tiers"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _checked(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except AccountConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@contextlib.asynccontextmanager
async def _unique(db: Database) -> AsyncIterator[AsyncSession]:
    """A write transaction; two admins racing to the same name get 409, not an error."""
    try:
        async with db.transaction() as session:
            yield session
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "another account has this name or external_ref"
        ) from None


def _actor(agent: Agent, note: str) -> Actor:
    return Actor(agent.id, agent.role.value, note)


def _containing(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _account_out(account: Account, contacts: int) -> AccountOut:
    out = AccountOut.model_validate(account)
    out.effective_tier = account.tier_override or account.tier
    out.contacts = contacts
    return out


# --- accounts ---------------------------------------------------------------------------------


@router.post("/accounts", response_model=AccountOut, status_code=201)
async def create_account(body: AccountIn, admin: Admin, request: Request) -> AccountOut:
    """A company; its name is unique whatever its case."""
    runtime = runtime_of(request)
    fields = body.model_dump(exclude_unset=True, exclude={"note"})
    async with _unique(runtime.db) as session:
        account = await _checked(
            accounts.create_account(
                session,
                fields,
                runtime.settings.customers,
                _actor(admin, body.note),
                runtime.clock.now(),
            )
        )
        return _account_out(account, 0)


@router.get("/accounts", response_model=AccountPage)
async def list_accounts(
    overseer: Overseer,
    request: Request,
    name: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Limit = 100,
) -> AccountPage:
    query = select(Account).where(Account.id > after_id)
    if name:
        pattern = _containing(accounts.name_key(clean_text(name)))
        query = query.where(Account.name_key.like(pattern, escape="\\"))
    async with runtime_of(request).db.read() as session:
        found = list(await session.scalars(query.order_by(Account.id).limit(limit + 1)))
        page = found[:limit]
        counts = await accounts.contact_counts(session, [a.id for a in page])
    return AccountPage(
        accounts=[_account_out(a, counts.get(a.id, 0)) for a in page],
        next_after_id=page[-1].id if len(found) > limit else None,
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
async def read_account(account_id: Id, overseer: Overseer, request: Request) -> AccountOut:
    async with runtime_of(request).db.read() as session:
        account = await _checked(accounts.get_account(session, account_id))
        counts = await accounts.contact_counts(session, [account_id])
    return _account_out(account, counts.get(account_id, 0))


@router.patch("/accounts/{account_id}", response_model=AccountOut)
async def change_account(
    account_id: Id, body: AccountPatch, admin: Admin, request: Request
) -> AccountOut:
    """Name, external reference, value, relationship manager and backup, tier override."""
    runtime = runtime_of(request)
    fields = body.model_dump(exclude_unset=True, exclude={"note"})
    if "name" in fields and fields["name"] is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "an account needs a name")
    async with _unique(runtime.db) as session:
        account = await _checked(accounts.get_account(session, account_id))
        await _checked(
            accounts.update_account(
                session,
                account,
                fields,
                runtime.settings.customers,
                _actor(admin, body.note),
                runtime.clock.now(),
            )
        )
        counts = await accounts.contact_counts(session, [account_id])
        return _account_out(account, counts.get(account_id, 0))


@router.get("/accounts/{account_id}/contacts", response_model=list[ContactOut])
async def list_contacts(
    account_id: Id,
    overseer: Overseer,
    request: Request,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Limit = 100,
) -> list[ContactOut]:
    async with runtime_of(request).db.read() as session:
        await _checked(accounts.get_account(session, account_id))
        rows = await session.scalars(
            select(Customer)
            .where(Customer.account_id == account_id, Customer.id > after_id)
            .order_by(Customer.id)
            .limit(limit)
        )
        return [ContactOut.model_validate(c) for c in rows]


@router.get("/accounts/{account_id}/tier-changes", response_model=list[TierChangeOut])
async def account_tier_changes(
    account_id: Id, overseer: Overseer, request: Request, limit: Limit = 100
) -> list[TierChangeOut]:
    """Newest first."""
    async with runtime_of(request).db.read() as session:
        await _checked(accounts.get_account(session, account_id))
        rows = await accounts.tier_changes(session, account_id=account_id, limit=limit)
        return [TierChangeOut.model_validate(r) for r in rows]


# --- a customer's standing --------------------------------------------------------------------


async def _standing_out(request: Request, customer_id: int) -> StandingOut:
    async with runtime_of(request).db.read() as session:
        customer = await _checked(accounts.get_customer(session, customer_id))
        stand = (await standings(session, [customer_id]))[customer_id]
    return StandingOut(
        customer_id=customer_id,
        value=customer.value,
        tier=customer.tier,
        tier_override=customer.tier_override,
        effective_tier=stand.tier,
        account_id=stand.account_id,
        account_name=stand.account_name,
        account_manager_id=stand.account_manager_id,
        account_backup_id=stand.account_backup_id,
    )


@router.get("/customers/{customer_id}/standing", response_model=StandingOut)
async def read_standing(customer_id: Id, overseer: Overseer, request: Request) -> StandingOut:
    """Value, tiers (computed, override, the one that applies) and account."""
    return await _standing_out(request, customer_id)


@router.patch("/customers/{customer_id}/standing", response_model=StandingOut)
async def change_standing(
    customer_id: Id, body: StandingPatch, admin: Admin, request: Request
) -> StandingOut:
    """Set the value, the tier override, or the account (null takes them out)."""
    runtime = runtime_of(request)
    fields = body.model_dump(exclude_unset=True, exclude={"note"})
    async with runtime.db.transaction() as session:
        customer = await _checked(accounts.get_customer(session, customer_id))
        await _checked(
            accounts.change_standing(
                session,
                customer,
                fields,
                runtime.settings.customers,
                _actor(admin, body.note),
                runtime.clock.now(),
            )
        )
    return await _standing_out(request, customer_id)


@router.get("/customers/{customer_id}/tier-changes", response_model=list[TierChangeOut])
async def customer_tier_changes(
    customer_id: Id, overseer: Overseer, request: Request, limit: Limit = 100
) -> list[TierChangeOut]:
    """Newest first. Changes of their account's tier are under the account."""
    async with runtime_of(request).db.read() as session:
        await _checked(accounts.get_customer(session, customer_id))
        rows = await accounts.tier_changes(session, customer_id=customer_id, limit=limit)
        return [TierChangeOut.model_validate(r) for r in rows]


@router.post("/customers/tiers/recompute", response_model=RecomputeOut)
async def recompute_tiers(admin: Admin, request: Request) -> RecomputeOut:
    """Recompute every tier from value now (waits for a run under way elsewhere)."""
    outcome = await runtime_of(request).tier_recompute.run(actor_id=admin.id)
    assert outcome is not None  # a waiting run always runs
    return RecomputeOut(
        units=outcome.units, changed=outcome.changed, seconds=outcome.seconds, tiers=outcome.tiers
    )
