"""Customers in the agents' API: search, the whole picture of one, consent; export and
erasure (supervisors and admins). The visibility rule holds throughout: an agent sees a
customer only through a ticket it may see, and an id outside its sight answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import consent as consents
from helpdesk.customers import export, picture
from helpdesk.customers.consent import ConsentState
from helpdesk.customers.erasure import CustomerNotFound
from helpdesk.staff.models import Agent
from helpdesk.tickets.visibility import customer_visible
from helpdesk.web.auth import Admin, CurrentAgent, Overseer
from helpdesk.web.customer_picture_schemas import (
    AccountOut,
    ComplaintOut,
    ConsentIn,
    ConsentOut,
    ConsentRecordOut,
    ConsentStateOut,
    CustomerFound,
    CustomerPicture,
    CustomerSearchPage,
    ErasedOut,
    IdentityOut,
    PersonOut,
    SatisfactionOut,
    TicketLineOut,
)
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api", tags=["customers"])
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The customer's id")]
_NOT_FOUND = "no such customer"


@router.get("/customers", response_model=CustomerSearchPage)
async def search_customers(
    agent: CurrentAgent,
    request: Request,
    query: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CustomerSearchPage:
    """Customers whose name, email, phone or any identity contains `query` (any case),
    among those you may see; newest first."""
    async with runtime_of(request).db.read() as session:
        found = await picture.search(session, agent, query, limit=limit, offset=offset)
    return CustomerSearchPage(
        customers=[
            CustomerFound(id=c.id, name=c.name, email=c.email, phone=c.phone)
            for c in found.customers
        ],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.get("/customers/{customer_id:int}", response_model=CustomerPicture)
async def customer_picture(
    customer_id: CustomerId, agent: CurrentAgent, request: Request
) -> CustomerPicture:
    """The customer's whole picture: identities, account, tier and manager, every ticket you
    may see on every channel, satisfaction, complaints with root causes, consent."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        seen = await picture.picture(
            session, agent, customer_id, key_tier=runtime.settings.customers.key_tier
        )
    if seen is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return _picture_out(seen)


@router.get("/customers/{customer_id:int}/consent", response_model=ConsentOut)
async def customer_consent(
    customer_id: CustomerId, agent: CurrentAgent, request: Request
) -> ConsentOut:
    async with runtime_of(request).db.read() as session:
        await _check_visible(session, agent, customer_id)
        history = await consents.consent_history(session, customer_id)
    return _consent_out(history)


@router.post(
    "/customers/{customer_id:int}/consent",
    response_model=ConsentOut,
    status_code=status.HTTP_201_CREATED,
)
async def record_consent(
    customer_id: CustomerId, body: ConsentIn, agent: CurrentAgent, request: Request
) -> ConsentOut:
    """Record that the customer gave (`granted: true`) or withdrew consent to messages they
    did not ask for on one channel, with a note of how."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await _check_visible(session, agent, customer_id)
        await consents.record_consent(
            session,
            customer_id,
            body.channel,
            body.granted,
            now=runtime.clock.now(),
            source=body.source,
            agent_id=agent.id,
            note=body.note,
        )
        await session.flush()
        history = await consents.consent_history(session, customer_id)
    return _consent_out(history)


@router.get(
    "/customers/{customer_id:int}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export_customer(customer_id: CustomerId, agent: Overseer, request: Request) -> Response:
    """Everything stored about the customer as one ZIP file (`customer.json` and the
    attachments' bytes); recorded in the audit trail. Supervisors and admins."""
    try:
        data = await runtime_of(request).privacy.export(customer_id, actor_id=agent.id)
    except export.CustomerNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"'},
    )


@router.post("/customers/{customer_id:int}/erase", response_model=ErasedOut)
async def erase_customer(customer_id: CustomerId, agent: Admin, request: Request) -> ErasedOut:
    """Erase the customer's personal data and their tickets' content, keeping the anonymous
    rows reports count; recorded in the audit trail. Admins only; cannot be undone."""
    try:
        erased = await runtime_of(request).privacy.erase(customer_id, actor_id=agent.id)
    except CustomerNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    return ErasedOut(
        customer_id=erased.customer_id,
        tickets=erased.tickets,
        messages=erased.messages,
        files=erased.files,
    )


async def _check_visible(session: AsyncSession, agent: Agent, customer_id: int) -> None:
    if not await customer_visible(session, agent, customer_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)


def _state_out(state: ConsentState) -> ConsentStateOut:
    return ConsentStateOut(
        channel=state.channel,
        granted=state.granted,
        at=state.at,
        source=state.source,
        agent_id=state.agent_id,
        note=state.note,
    )


def _consent_out(history: list[consents.Consent]) -> ConsentOut:
    return ConsentOut(
        current=[_state_out(s) for s in consents.current(history).values()],
        history=[
            ConsentRecordOut(
                id=r.id,
                channel=r.channel,
                granted=r.granted,
                at=r.at,
                source=r.source,
                agent_id=r.agent_id,
                note=r.note,
            )
            for r in history
        ],
    )


def _person(agent: Agent | None) -> PersonOut | None:
    return PersonOut(id=agent.id, name=agent.name) if agent else None


def _picture_out(seen: picture.Picture) -> CustomerPicture:
    c = seen.customer
    return CustomerPicture(
        id=c.id,
        name=c.name,
        email=c.email,
        phone=c.phone,
        language=c.language,
        created_at=c.created_at,
        erased_at=c.erased_at,
        identities=[
            IdentityOut(
                id=i.id,
                channel=i.channel,
                address=i.address,
                display_name=i.display_name,
                username=i.username,
                verified=i.verified,
                unreachable=i.unreachable,
            )
            for i in seen.identities
        ],
        account=AccountOut(id=seen.account.id, name=seen.account.name) if seen.account else None,
        tier=seen.tier,
        key_account=seen.key_account,
        manager=_person(seen.manager),
        backup=_person(seen.backup),
        tickets=[
            TicketLineOut(
                number=t.id,
                subject=t.subject,
                channel=t.channel,
                status=t.status,
                kind=t.kind,
                priority=t.priority,
                created_at=t.created_at,
                updated_at=t.updated_at,
                resolved_at=t.resolved_at,
                closed_at=t.closed_at,
                satisfaction=t.satisfaction,
                satisfaction_at=t.satisfaction_at,
                merged_into=t.merged_into_id,
            )
            for t in seen.tickets
        ],
        satisfaction=SatisfactionOut(
            ratings=seen.satisfaction.ratings,
            average=seen.satisfaction.average,
            satisfied_share=seen.satisfaction.satisfied_share,
        ),
        complaints=[
            ComplaintOut(
                ticket=x.ticket_id,
                subject=x.subject,
                status=x.status,
                opened_at=x.opened_at,
                root_cause=x.root_cause,
                remedy=x.remedy,
                resolved_at=x.resolved_at,
                follow_up_answer=x.follow_up_answer,
            )
            for x in seen.complaints
        ],
        consent=[_state_out(s) for s in seen.consent.values()],
    )
