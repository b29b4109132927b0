"""The agents' API for tickets they open, touch points, merges and splits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy.exc import IntegrityError

from helpdesk.customers.lookup import BadAddress
from helpdesk.customers.queries import customer_name
from helpdesk.tickets import merging, opening, touchpoints
from helpdesk.tickets.actions import TicketRuleError
from helpdesk.tickets.models import Direction
from helpdesk.tickets.visibility import NotPermitted
from helpdesk.web.agent_api import (
    TicketNumber,
    message_out,
    rule_checked,
    ticket_summary,
    visible_or_404,
)
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.opening_schemas import (
    MergeIn,
    MergeOut,
    SplitIn,
    TicketOpened,
    TicketOpenIn,
    TouchPointIn,
)
from helpdesk.web.schemas import MessageCreated, TicketSummary

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from helpdesk.runtime import Runtime

T = TypeVar("T")
router = APIRouter(prefix="/api", tags=["tickets"])
# A request that lost a race (the same idempotency key, or the same new address, committed by
# another request meanwhile) is run again once and then sees the winner's rows.
ATTEMPTS = 2


@router.post(
    "/tickets",
    response_model=TicketOpened,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A repeated idempotency key: the ticket opened before"}},
)
async def open_ticket(
    body: TicketOpenIn, agent: CurrentAgent, request: Request, response: Response
) -> TicketOpened:
    """Open a ticket for a customer: a touch point (phone, visit) or a message the agent
    writes first (email, telegram, webchat). Without an assignee, routing places it."""
    runtime = runtime_of(request)
    request_ = opening.Opening(
        contact=opening.Contact(
            body.customer.id, body.customer.email, body.customer.phone, body.customer.name
        ),
        subject=body.subject,
        channel=body.message.channel,
        text=body.message.text,
        direction=Direction(body.message.direction),
        duration_seconds=body.message.duration_seconds,
        customer_asked=body.message.customer_asked,
        team_id=body.team_id,
        assignee_id=body.assignee_id,
        priority=body.priority,
        kind=body.kind,
        idempotency_key=body.idempotency_key,
        email_needs_consent=runtime.settings.customers.proactive_email_needs_consent,
    )

    def answer(opened: opening.Opened, name: str) -> TicketOpened:
        return TicketOpened(
            ticket=ticket_summary(opened.ticket, name),
            message=message_out(opened.message, agent.name),
            duplicate=opened.duplicate,
            customer_created=opened.customer_created,
        )

    async def written(session: AsyncSession, planned: opening.Plan) -> TicketOpened:
        opened = await opening.write(
            session,
            agent,
            planned,
            now=runtime.clock.now(),
            chat_open=runtime.webchat.hub.connected,
        )
        return await named(session, opened)

    async def named(session: AsyncSession, opened: opening.Opened) -> TicketOpened:
        name = opened.customer_name
        if name is None:
            name = await customer_name(session, opened.ticket.customer_id)
        return answer(opened, name)

    tries = 0

    async def repeated(session: AsyncSession, earlier: opening.Opened) -> TicketOpened:
        return answer(earlier, await customer_name(session, earlier.ticket.customer_id))

    async def planned_and_written(session: AsyncSession) -> TicketOpened:
        planned = await opening.plan(session, agent, request_, look_for_repeat=tries > 1)
        if planned.repeat is not None:
            return await repeated(session, planned.repeat)
        return await written(session, planned)

    async def attempt() -> TicketOpened:
        # A key or an address committed by another request fails the writes on a unique
        # constraint, and the next attempt sees it. The first attempt does not look the key
        # up (`opening.plan`): a repeat fails on the message's unique external id instead.
        nonlocal tries
        tries += 1
        touch_point = request_.channel in touchpoints.TOUCH_POINTS
        if not runtime.db.is_sqlite and not touch_point:
            # Each in a transaction of its own, on its own connection: the requests run in
            # parallel (measured: sharing commits through one connection gained nothing here).
            async with runtime.db.transaction() as session:
                return await _answered(planned_and_written(session))
        if not runtime.db.is_sqlite:
            # A call or a visit on PostgreSQL: the reads, then every row and event in one
            # statement, on one autocommit connection.
            async with runtime.db.autocommit_session() as session:
                planned = await _answered(
                    opening.plan(session, agent, request_, look_for_repeat=tries > 1)
                )
                if planned.repeat is not None:
                    return await repeated(session, planned.repeat)
                opened = await _answered(
                    opening.open_on_touch_point_at_once(
                        runtime.db, session, agent, planned, now=runtime.clock.now()
                    )
                )
                return await named(session, opened)
        # SQLite: the reads first, outside the one writer's turn, then the inserts in a commit
        # shared with the creations arriving meanwhile (`runtime.ticket_openings`).
        async with runtime.db.lookup() as session:
            planned = await _answered(
                opening.plan(session, agent, request_, look_for_repeat=tries > 1)
            )
            if planned.repeat is not None:
                return await repeated(session, planned.repeat)
        return await _answered(runtime.ticket_openings.run(lambda s: written(s, planned)))

    # One more try than elsewhere: the first may only have found the key repeated.
    opened = await _retried(attempt, attempts=ATTEMPTS + 1)
    if opened.duplicate:
        response.status_code = status.HTTP_200_OK
    return opened


@router.post("/tickets/{number}/touch-points", response_model=MessageCreated, status_code=201)
async def log_touch_point(
    number: TicketNumber, body: TouchPointIn, agent: CurrentAgent, request: Request
) -> MessageCreated:
    """Record a phone call or a visit on the ticket. Nothing is sent to anyone."""
    runtime = runtime_of(request)
    point = touchpoints.TouchPoint(
        body.channel, Direction(body.direction), body.text, body.duration_seconds
    )

    async def attempt(session: AsyncSession) -> MessageCreated:
        ticket = await visible_or_404(session, agent, number)
        outcome = await touchpoints.log(
            session,
            agent,
            ticket,
            point,
            now=runtime.clock.now(),
            external_id=touchpoints.touch_point_key(agent, body.idempotency_key),
        )
        assert outcome.message is not None
        return MessageCreated(
            message=message_out(outcome.message, agent.name), duplicate=outcome.duplicate
        )

    return await _in_transaction(runtime, attempt)


@router.post("/tickets/{number}/merge", response_model=MergeOut)
async def merge_tickets(
    number: TicketNumber, body: MergeIn, agent: CurrentAgent, request: Request
) -> MergeOut:
    """Merge ticket `body.ticket` into this one (same customer). The customer is told on this
    ticket's channel only with `tell_customer`."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        survivor = await visible_or_404(session, agent, number)
        merged = await visible_or_404(session, agent, body.ticket)
        text = None
        if body.tell_customer:
            text = body.text or runtime.render_text(
                "ticket_merged.txt",
                ticket_number=survivor.id,
                subject=survivor.subject,
                merged_number=merged.id,
                merged_subject=merged.subject,
            )
        told = await rule_checked(
            merging.merge(
                session, agent, survivor, merged, now=runtime.clock.now(), tell_customer=text
            )
        )
        name = await customer_name(session, survivor.customer_id)
        return MergeOut(
            ticket=ticket_summary(survivor, name),
            merged=ticket_summary(merged, name),
            told=message_out(told.message, agent.name) if told.message else None,
        )


@router.post("/tickets/{number}/split", response_model=TicketSummary, status_code=201)
async def split_ticket(
    number: TicketNumber, body: SplitIn, agent: CurrentAgent, request: Request
) -> TicketSummary:
    """Move one message of this ticket into a new ticket of the same customer."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await visible_or_404(session, agent, number)
        new = await rule_checked(
            merging.split(
                session,
                agent,
                ticket,
                body.message_id,
                now=runtime.clock.now(),
                subject=body.subject,
            )
        )
        return ticket_summary(new, await customer_name(session, new.customer_id))


async def _in_transaction(runtime: Runtime, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def attempt() -> T:
        async with runtime.db.transaction() as session:
            return await _answered(operation(session))

    return await _retried(attempt)


async def _retried(attempt: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    for number in range(attempts):
        try:
            return await attempt()
        except IntegrityError:
            if number == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def _answered(operation: Awaitable[T]) -> T:
    """The core's refusals as HTTP answers: 404 unseen, 403 not yours, 409 rule, 422 input."""
    try:
        return await operation
    except opening.CustomerNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer #{exc.args[0]}") from None
    except NotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except TicketRuleError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except BadAddress as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
