"""Touch points that are not channels: a phone call or a visit, recorded on a ticket.

Each is a message from or to the customer, on the channel "phone" or "visit", with its
direction, how long it lasted and the agent who took it. It is history and a response like any
other message, and nothing is ever delivered for it: no outbox item is written, so no worker can
claim one (workers only claim their adapters' channels, and none is called "phone" or "visit").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.events.types import TicketReopened, TouchPointLogged
from helpdesk.staff.models import Agent
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import Outcome, TicketRuleError
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    DeliveryState,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)

TOUCH_POINTS = ("phone", "visit")
# A day: anything longer is a typing mistake, not a call.
MAX_DURATION_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class TouchPoint:
    channel: str
    # IN: the customer called or came by; OUT: the agent called them or visited.
    direction: Direction
    text: str
    duration_seconds: int | None = None
    identity_id: int | None = None


def touch_point_key(agent: Agent, idempotency_key: str | None) -> str | None:
    return f"touch:{agent.id}:{idempotency_key}" if idempotency_key else None


async def log(
    session: AsyncSession,
    agent: Agent,
    ticket: Ticket,
    point: TouchPoint,
    *,
    now: datetime,
    external_id: str | None = None,
    checked: bool = False,
) -> Outcome:
    """Store the touch point on the ticket in the caller's transaction, with its audit entry
    and its `TouchPointLogged` event. A repeated `external_id` returns the stored one (unless
    the caller has `checked` that already)."""
    check(point)
    if external_id is not None and not checked:
        earlier = await session.scalar(
            select(Message).where(
                Message.channel == point.channel, Message.external_id == external_id
            )
        )
        if earlier is not None:
            return Outcome(message=earlier, duplicate=True)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketRuleError("the ticket is closed; open a new ticket for this call or visit")
    message = new_message(agent, ticket, point, now=now, external_id=external_id)
    session.add(message)
    reopens = ticket.status == TicketStatus.RESOLVED
    counts_on(ticket, point.direction, now)
    await session.flush()
    session.add(logged_entry(agent, ticket, message, point, now=now))
    record(
        session,
        TouchPointLogged(ticket.id, message.id, point.channel, point.direction.value, agent.id),
    )
    if reopens:
        # As a message from the customer would: the timers run again, routing looks again.
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.AGENT,
            actor_id=agent.id,
            ticket_id=ticket.id,
            action="ticket.reopened",
            reason=f"a {'call' if point.channel == 'phone' else 'visit'} was logged after "
            "resolution",
            message_id=message.id,
        )
        record(session, TicketReopened(ticket.id))
    return Outcome(message)


def logged_entry(
    agent: Agent, ticket: Ticket, message: Message, point: TouchPoint, *, now: datetime
) -> AuditEntry:
    """The audit trail's record of a call or a visit (both ways of logging one write it)."""
    return audit.entry(
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent.id,
        ticket_id=ticket.id,
        action="ticket.touch_point",
        message_id=message.id,
        channel=point.channel,
        direction=point.direction.value,
        duration_seconds=point.duration_seconds,
    )


def new_message(
    agent: Agent, ticket: Ticket, point: TouchPoint, *, now: datetime, external_id: str | None
) -> Message:
    """The touch point's message on `ticket` (checked already), not yet added anywhere."""
    return Message(
        ticket_id=ticket.id,
        direction=point.direction,
        author_type=AuthorType.CUSTOMER if point.direction == Direction.IN else AuthorType.AGENT,
        agent_id=agent.id,
        customer_id=ticket.customer_id,
        identity_id=point.identity_id,
        channel=point.channel,
        external_id=external_id,
        text=clean_text(point.text).strip(),
        created_at=now,
        sent_at=now,
        delivery_state=DeliveryState.NOT_APPLICABLE,
        duration_seconds=point.duration_seconds,
    )


def check(point: TouchPoint) -> None:
    if point.channel not in TOUCH_POINTS:
        raise TicketRuleError(f"a touch point is one of {', '.join(TOUCH_POINTS)}")
    if point.direction not in (Direction.IN, Direction.OUT):
        raise TicketRuleError("a touch point goes in (from the customer) or out (to them)")
    if not clean_text(point.text).strip():
        raise TicketRuleError("say in a few words what the call or visit was about")
    if point.duration_seconds is not None and not 0 <= point.duration_seconds <= (
        MAX_DURATION_SECONDS
    ):
        raise TicketRuleError(f"a duration is 0 to {MAX_DURATION_SECONDS} seconds")


def counts_on(ticket: Ticket, direction: Direction, now: datetime) -> None:
    """A call or a visit is a person talking with the customer: the first response when none
    came yet, the bot's cue to keep out, and (from the customer) their latest word."""
    ticket.first_response_at = ticket.first_response_at or now
    ticket.handed_over_at = ticket.handed_over_at or now
    if direction == Direction.IN:
        ticket.last_customer_message_at = now
    if ticket.status in (TicketStatus.NEW, TicketStatus.RESOLVED):
        ticket.status = TicketStatus.OPEN
        ticket.resolved_at = None
    ticket.updated_at = now
