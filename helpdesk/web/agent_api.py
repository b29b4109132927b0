"""The agents' JSON API: the queue, a ticket, reply, note, change (logging in: accounts_api)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from sqlalchemy.exc import IntegrityError

from helpdesk.channels.email import queries as email_queries
from helpdesk.common.sanitize import block_remote_images
from helpdesk.customers import email_proof
from helpdesk.customers import queries as customers
from helpdesk.customers.models import Customer, Identity
from helpdesk.messages import OutboundAttachment
from helpdesk.routing import manual as routing_manual
from helpdesk.routing import queries as routing_queries
from helpdesk.staff import queries as staff
from helpdesk.tickets import actions as tickets
from helpdesk.tickets import queries
from helpdesk.tickets.models import Attachment, Message, Ticket, TicketStatus
from helpdesk.tickets.reply_channels import reply_address
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import (
    MAX_ID,
    AgentOut,
    AttachmentIn,
    AttachmentOut,
    AuditOut,
    CustomerOut,
    MessageCreated,
    MessageOut,
    NoteIn,
    ReplyIn,
    TeamOut,
    TicketDetail,
    TicketPage,
    TicketPatch,
    TicketSummary,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from helpdesk.runtime import Runtime
    from helpdesk.staff.models import Agent

T = TypeVar("T")
router = APIRouter(prefix="/api")
MAX_REPLY_FILE_BYTES = 10 * 1024 * 1024
TicketNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="The ticket number")]


@router.get("/agents", response_model=list[AgentOut], tags=["people"])
async def list_agents(agent: CurrentAgent, request: Request) -> list[AgentOut]:
    async with runtime_of(request).db.read() as session:
        return [AgentOut.model_validate(a) for a in await staff.active_agents(session)]


@router.get("/teams", response_model=list[TeamOut], tags=["people"])
async def list_teams(agent: CurrentAgent, request: Request) -> list[TeamOut]:
    async with runtime_of(request).db.read() as session:
        return [TeamOut.model_validate(t) for t in await staff.teams(session)]


@router.get("/tickets", response_model=TicketPage, tags=["tickets"])
async def list_tickets(
    agent: CurrentAgent,
    request: Request,
    view: queries.QueueView = "all",
    status_: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TicketPage:
    """The queue, newest activity first. `view`: all that you may see, yours, your teams',
    or unassigned. `status` may repeat."""
    filters = queries.QueueFilter(view, status_ or (), team_id, customer_id, limit, offset)
    async with runtime_of(request).db.read() as session:
        page = await queries.queue(session, agent, filters)
        summaries = [ticket_summary(row.ticket, row.customer_name) for row in page.rows]
    return TicketPage(tickets=summaries, total=page.total, limit=limit, offset=offset)


@router.get("/tickets/{number}", response_model=TicketDetail, tags=["tickets"])
async def read_ticket(
    number: TicketNumber, agent: CurrentAgent, request: Request, remote_images: bool = False
) -> TicketDetail:
    """`remote_images=true` shows the images a mail loads from elsewhere; by default they are
    taken out (`remote_images_blocked` says how many), as a sender could track the reading."""
    async with runtime_of(request).db.read() as session:
        view = await _found(queries.ticket_view(session, agent, number), number)
        dates = await email_queries.original_dates(session, [r.message.id for r in view.messages])
        messages = [
            message_out(
                row.message,
                row.author_name,
                row.message.attachments,
                remote_images=remote_images,
                original_date=dates.get(row.message.id),
            )
            for row in view.messages
        ]
        decisions = await routing_queries.decisions(session, number)
        return TicketDetail(
            **ticket_summary(view.ticket, view.customer.name).model_dump(),
            customer=_customer_out(
                view.customer, await email_proof.claims_of(session, [view.customer.id])
            ),
            messages=messages,
            routing_reason=decisions[-1].reason if decisions else None,
        )


@router.post("/tickets/{number}/reply", response_model=MessageCreated, tags=["tickets"])
async def reply(
    number: TicketNumber, body: ReplyIn, agent: CurrentAgent, request: Request
) -> MessageCreated:
    """Store the reply and queue its delivery on the ticket's channel (or, with
    `via_identity_id`, another of the customer's proven addresses), in one transaction."""
    runtime = runtime_of(request)
    files = [await _stored_file(runtime, file) for file in body.attachments]
    try:
        async with runtime.db.transaction() as session:
            ticket = await visible_or_404(session, agent, number)
            via = (
                await rule_checked(
                    reply_address(session, ticket, body.via_identity_id, runtime.adapters)
                )
                if body.via_identity_id is not None
                else None
            )
            outcome = await rule_checked(
                tickets.reply(
                    session,
                    agent,
                    ticket,
                    body.text,
                    now=runtime.clock.now(),
                    idempotency_key=body.idempotency_key,
                    attachments=files,
                    via=via,
                )
            )
    except IntegrityError:
        # The same idempotent reply sent twice at one instant: the other one committed first.
        earlier = await _earlier_reply(runtime, agent, number, body.idempotency_key)
        if earlier is None:
            raise
        outcome = tickets.Outcome(message=earlier, duplicate=True)
    assert outcome.message is not None
    return MessageCreated(
        message=message_out(outcome.message, agent.name), duplicate=outcome.duplicate
    )


async def _earlier_reply(
    runtime: Runtime, agent: Agent, number: int, key: str | None
) -> Message | None:
    if key is None:
        return None
    async with runtime.db.read() as session:
        ticket = await visible_or_404(session, agent, number)
        return await tickets.earlier_reply(session, agent, ticket, key)


@router.post("/tickets/{number}/notes", response_model=MessageCreated, tags=["tickets"])
async def add_note(
    number: TicketNumber, body: NoteIn, agent: CurrentAgent, request: Request
) -> MessageCreated:
    """An internal note: seen by agents, never sent to the customer."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await visible_or_404(session, agent, number)
        outcome = await rule_checked(
            tickets.add_note(session, agent, ticket, body.text, now=runtime.clock.now())
        )
    assert outcome.message is not None
    return MessageCreated(message=message_out(outcome.message, agent.name))


@router.patch("/tickets/{number}", response_model=TicketSummary, tags=["tickets"])
async def change_ticket(
    number: TicketNumber, body: TicketPatch, agent: CurrentAgent, request: Request
) -> TicketSummary:
    """Change status, priority, kind, assignee or team. Send null to clear assignee or team.
    Resolving a complaint needs `remedy` and a `root_cause` from `GET /api/complaints/causes`."""
    runtime = runtime_of(request)
    given = body.model_fields_set
    # Who has the ticket is routing's to record (with its reason): not a plain field change.
    changes = tickets.TicketChanges(
        status=body.status,
        priority=body.priority,
        kind=body.kind,
        team_id=body.team_id,
        clear_team="team_id" in given and body.team_id is None,
        remedy=body.remedy,
        root_cause=body.root_cause,
    )
    async with runtime.db.transaction() as session:
        ticket = await visible_or_404(session, agent, number)
        now = runtime.clock.now()
        await rule_checked(
            tickets.change(
                session,
                agent,
                ticket,
                changes,
                now=now,
                root_causes=runtime.settings.conversation.complaint_root_causes,
            )
        )
        if body.assignee_id is not None:
            await rule_checked(
                routing_manual.assign(
                    session,
                    agent,
                    ticket,
                    body.assignee_id,
                    settings=runtime.settings.routing,
                    now=now,
                )
            )
        elif "assignee_id" in given and ticket.assignee_id is not None:
            await runtime.routing.unassign(session, agent, ticket)
        summary = ticket_summary(ticket, await customers.customer_name(session, ticket.customer_id))
    return summary


@router.post("/tickets/{number}/typing", status_code=204, tags=["tickets"])
async def typing(number: TicketNumber, agent: CurrentAgent, request: Request) -> None:
    """Tell the customer's open chat that an agent is writing."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        await visible_or_404(session, agent, number)
    await runtime.webchat.show_typing(number, agent.name)


@router.get("/tickets/{number}/audit", response_model=list[AuditOut], tags=["tickets"])
async def ticket_audit(
    number: TicketNumber, agent: CurrentAgent, request: Request
) -> list[AuditOut]:
    async with runtime_of(request).db.read() as session:
        entries = await _found(queries.audit_trail(session, agent, number), number)
    return [
        AuditOut(
            at=e.at,
            actor_type=e.actor_type.value,
            actor_id=e.actor_id,
            action=e.action,
            detail=e.detail,
        )
        for e in entries
    ]


async def _stored_file(runtime: Runtime, file: AttachmentIn) -> OutboundAttachment:
    try:
        data = base64.b64decode(file.data_base64, validate=True)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{file.filename}: data_base64 is not base64"
        ) from None
    if not data or len(data) > MAX_REPLY_FILE_BYTES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{file.filename}: a file must be 1 byte to {MAX_REPLY_FILE_BYTES} bytes",
        )
    digest = await runtime.attachments.put(data)
    return OutboundAttachment(file.filename, file.content_type, digest, len(data))


async def visible_or_404(session: AsyncSession, agent: Agent, number: int) -> Ticket:
    return await _found(visible_ticket(session, agent, number), number)


async def _found(read: Awaitable[T], number: int) -> T:
    try:
        return await read
    except TicketNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None


async def rule_checked(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except (tickets.TicketRuleError, routing_manual.AssignmentError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def ticket_summary(ticket: Ticket, customer_name: str) -> TicketSummary:
    return TicketSummary(
        number=ticket.id,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        kind=ticket.kind,
        channel=ticket.channel,
        customer_id=ticket.customer_id,
        customer_name=customer_name,
        assignee_id=ticket.assignee_id,
        team_id=ticket.team_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        last_customer_message_at=ticket.last_customer_message_at,
        handed_over_at=ticket.handed_over_at,
        satisfaction=ticket.satisfaction,
        satisfaction_comment=ticket.satisfaction_comment,
        recommend_score=ticket.recommend_score,
        merged_into=ticket.merged_into_id,
        entry_point=ticket.entry_point,
    )


def message_out(
    message: Message,
    author_name: str,
    attachments: list[Attachment] | None = None,
    *,
    remote_images: bool = False,
    original_date: str | None = None,
) -> MessageOut:
    html, blocked = message.html, 0
    if html and not remote_images:
        html, blocked = block_remote_images(html)
    return MessageOut(
        id=message.id,
        direction=message.direction.value,
        author_type=message.author_type.value,
        author_name=author_name,
        channel=message.channel,
        text=message.text,
        html=html,
        remote_images_blocked=blocked,
        created_at=message.created_at,
        delivery_state=message.delivery_state.value,
        delivery_error=message.delivery_error,
        duration_seconds=message.duration_seconds,
        agent_id=message.agent_id,
        original_date=original_date,
        attachments=[
            AttachmentOut(
                id=a.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
            )
            for a in attachments or []
        ],
    )


def _customer_out(customer: Customer, claims: dict[int, list[str]]) -> CustomerOut:
    # An email given in the chat and not yet proven is listed as unverified: it joins nothing.
    unproven: list[dict[str, str | bool]] = [
        {
            "channel": "email",
            "address": a,
            "display_name": "",
            "unreachable": False,
            "verified": False,
        }
        for a in claims.get(customer.id, [])
    ]
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        tier=customer.tier,
        identities=[_identity_out(i) for i in customer.identities] + unproven,
    )


def _identity_out(identity: Identity) -> dict[str, str | bool]:
    return {
        "channel": identity.channel,
        "address": identity.address,
        "display_name": identity.display_name,
        "unreachable": identity.unreachable,
        "verified": identity.verified,
    }
