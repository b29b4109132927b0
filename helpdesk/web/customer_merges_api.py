"""Merging customers in the API: merge one into another, undo a merge, and the suggestions of
likely duplicates to confirm (a merge) or dismiss. An agent acts only on customers in its sight
(`tickets.visibility.customers_in_sight`); any other id answers 404, as a missing one does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import duplicates
from helpdesk.customers.merge import CustomerNotFound, merge_customers
from helpdesk.customers.merge_models import CustomerMerge, CustomerMergeRow
from helpdesk.customers.models import Customer
from helpdesk.customers.unmerge import MergeNotFound, UndoRefused, undo_merge
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets.models import AuthorType
from helpdesk.tickets.visibility import customer_in_sight, customers_in_sight
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api/customers", tags=["customers"])
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int | None = Field(None, ge=1, le=MAX_ID, description="the customer that stays")
    target: int | None = Field(None, ge=1, le=MAX_ID, description="another name for `into`")
    reason: str = Field(..., min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_target(self) -> MergeIn:
        if (self.into is None) == (self.target is None):
            raise ValueError("name the customer that stays: into (or target), once")
        return self

    @property
    def stays(self) -> int:
        return self.into if self.into is not None else int(self.target or 0)


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)


class MergeOut(BaseModel):
    id: int
    source_id: int
    target_id: int
    actor_type: str
    actor_id: int | None
    at: datetime
    reason: str
    # How many rows of each table moved to the target.
    moved: dict[str, int]
    undone_at: datetime | None
    # The source customer's id after an undo (its old one whenever it was free).
    restored_id: int | None


class CustomerBrief(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    account_id: int | None


class ReasonOut(BaseModel):
    kind: str
    detail: str
    verified: bool


class SuggestionOut(BaseModel):
    customers: list[CustomerBrief]
    reasons: list[ReasonOut]
    # Rests on an address a customer has not proven: confirm needs `accept_unverified`.
    unverified: bool


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(..., ge=1, le=MAX_ID, description="which of the two stays")
    reason: str = Field("confirmed duplicate suggestion", min_length=1, max_length=500)
    accept_unverified: bool = False


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=500)


async def _in_sight_or_404(session: AsyncSession, agent: Agent, *ids: int) -> None:
    seen = await customers_in_sight(session, agent, ids)
    for customer_id in ids:
        if customer_id not in seen:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")


async def _merge_out(session: AsyncSession, merge_id: int) -> MergeOut:
    merge = await session.get(CustomerMerge, merge_id, populate_existing=True)
    assert merge is not None
    counts: dict[str, int] = {}
    for name in await session.scalars(
        select(CustomerMergeRow.table_name).where(CustomerMergeRow.merge_id == merge_id)
    ):
        counts[name] = counts.get(name, 0) + 1
    return MergeOut(
        id=merge.id,
        source_id=merge.source_id,
        target_id=merge.target_id,
        actor_type=merge.actor_type,
        actor_id=merge.actor_id,
        at=merge.at,
        reason=merge.reason,
        moved=counts,
        undone_at=merge.undone_at,
        restored_id=merge.restored_id,
    )


async def _merge(request: Request, agent: Agent, source: int, target: int, reason: str) -> MergeOut:
    if source == target:
        raise HTTPException(status.HTTP_409_CONFLICT, "a customer cannot be merged into itself")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await _in_sight_or_404(session, agent, source, target)
        try:
            merged = await merge_customers(
                session,
                source,
                target,
                now=runtime.clock.now(),
                reason=reason,
                actor_type=AuthorType.AGENT,
                actor_id=agent.id,
            )
        except CustomerNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {exc.args[0]}") from None
        assert merged is not None
        return await _merge_out(session, merged.merge_id)


@router.post("/{customer_id}/merge", response_model=MergeOut)
async def merge(
    customer_id: CustomerId, body: MergeIn, agent: CurrentAgent, request: Request
) -> MergeOut:
    """Merge this customer into `into` (or `target`): every identity, ticket, message and the
    rest moves there, this customer is deleted, and the merge is recorded so it can be undone.
    Both customers must be in your sight."""
    return await _merge(request, agent, customer_id, body.stays, body.reason)


@router.get("/merges/{merge_id}", response_model=MergeOut)
async def merge_record(
    merge_id: Annotated[int, Path(ge=1, le=MAX_ID)], agent: CurrentAgent, request: Request
) -> MergeOut:
    """One merge: who, when, why, what moved, and whether it was undone."""
    async with runtime_of(request).db.read() as session:
        merge = await session.get(CustomerMerge, merge_id)
        if merge is None or not (
            sees_all(agent) or await customer_in_sight(session, agent, merge.target_id)
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no merge {merge_id}")
        return await _merge_out(session, merge_id)


@router.get("/{customer_id}/merges", response_model=list[MergeOut])
async def merges_of(
    customer_id: CustomerId, agent: CurrentAgent, request: Request
) -> list[MergeOut]:
    """The merges into or out of this customer, newest first."""
    async with runtime_of(request).db.read() as session:
        await _in_sight_or_404(session, agent, customer_id)
        ids = await session.scalars(
            select(CustomerMerge.id)
            .where(
                or_(CustomerMerge.target_id == customer_id, CustomerMerge.source_id == customer_id)
            )
            .order_by(CustomerMerge.id.desc())
        )
        return [await _merge_out(session, merge_id) for merge_id in ids]


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo(
    merge_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    agent: CurrentAgent,
    request: Request,
    body: UndoIn | None = None,
) -> MergeOut:
    """Undo a merge: the source customer comes back with exactly the rows that moved (what
    arrived after the merge stays with the target). 409 with the reason when it cannot be
    done safely."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        merge = await session.get(CustomerMerge, merge_id)
        if merge is None or not (
            sees_all(agent) or await customer_in_sight(session, agent, merge.target_id)
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no merge {merge_id}")
        try:
            await undo_merge(
                session,
                merge_id,
                now=runtime.clock.now(),
                reason=body.reason if body else "",
                actor_id=agent.id,
            )
        except MergeNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no merge {merge_id}") from None
        except UndoRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return await _merge_out(session, merge_id)


@router.get("/duplicates", response_model=list[SuggestionOut])
async def duplicate_suggestions(
    agent: CurrentAgent,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SuggestionOut]:
    """Pairs of customers in your sight that look like one person, with the reasons, strongest
    first. Nothing is merged until an agent confirms."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        found = await duplicates.find_suggestions(session, runtime.settings.customers.duplicates)
        ids = {c for s in found for c in (s.first_id, s.second_id)}
        seen = await customers_in_sight(session, agent, ids)
        shown = [s for s in found if s.first_id in seen and s.second_id in seen][:limit]
        wanted = {c for s in shown for c in (s.first_id, s.second_id)}
        briefs = {
            row.id: CustomerBrief(
                id=row.id,
                name=row.name,
                email=row.email,
                phone=row.phone,
                account_id=row.account_id,
            )
            for row in await session.scalars(select(Customer).where(Customer.id.in_(wanted)))
        }
    return [
        SuggestionOut(
            customers=[briefs[s.first_id], briefs[s.second_id]],
            reasons=[
                ReasonOut(kind=r.kind, detail=r.detail, verified=r.verified) for r in s.reasons
            ],
            unverified=s.unverified,
        )
        for s in shown
    ]


@router.post("/duplicates/{first}/{second}/confirm", response_model=MergeOut)
async def confirm(
    first: CustomerId, second: CustomerId, body: ConfirmIn, agent: CurrentAgent, request: Request
) -> MergeOut:
    """Confirm a suggestion: the other customer is merged into `into`. A suggestion that rests on
    an unverified claim needs `accept_unverified: true`: check with the customer first."""
    if body.into not in (first, second):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "into must be one of the two")
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        await _in_sight_or_404(session, agent, first, second)
        suggestion = await duplicates.suggestion_for(
            session, runtime.settings.customers.duplicates, first, second
        )
    if suggestion is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"customers {first} and {second} are not suggested as one person (or the suggestion "
            f"was dismissed); merge them with POST /api/customers/{{id}}/merge if they are",
        )
    if suggestion.unverified and not body.accept_unverified:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this suggestion rests on an unverified claim ("
            + "; ".join(r.detail for r in suggestion.reasons if not r.verified)
            + "): make sure it is the same person, then confirm with accept_unverified",
        )
    source = second if body.into == first else first
    return await _merge(request, agent, source, body.into, body.reason)


@router.post("/duplicates/{first}/{second}/dismiss", status_code=204)
async def dismiss(
    first: CustomerId,
    second: CustomerId,
    agent: CurrentAgent,
    request: Request,
    body: DismissIn | None = None,
) -> None:
    """These two are different people: the pair is never suggested again."""
    if first == second:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "name two customers")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await _in_sight_or_404(session, agent, first, second)
        await duplicates.dismiss(
            session,
            first,
            second,
            agent_id=agent.id,
            now=runtime.clock.now(),
            note=body.note if body else "",
        )
