"""Merging two tickets of one customer, and splitting a message out into a ticket of its own.

A merge moves the merged ticket's messages (notes included) and its audit trail to the
survivor, closes it and points it there (`merged_into_id`), so a customer writing to the old
number lands on the survivor (`intake` follows the pointer). The customer is told only when the
agent gives the words to tell them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.events.types import MessageSplit, TicketCreated, TicketsMerged
from helpdesk.staff.models import Agent
from helpdesk.storage.database import rows_matched
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import Outcome, TicketRuleError, bot_reply
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)
from helpdesk.tickets.opening import SUBJECT_LENGTH
from helpdesk.tickets.touchpoints import TOUCH_POINTS

PRIORITY_ORDER = list(Priority)


async def merge(
    session: AsyncSession,
    agent: Agent,
    survivor: Ticket,
    merged: Ticket,
    *,
    now: datetime,
    tell_customer: str | None = None,
) -> Outcome:
    """Move `merged` into `survivor` in the caller's transaction. `tell_customer`, when given,
    is sent to the customer on the survivor's channel. Returns that message, if any."""
    if survivor.id == merged.id:
        raise TicketRuleError("a ticket cannot be merged into itself")
    if survivor.customer_id != merged.customer_id:
        raise TicketRuleError("only tickets of the same customer can be merged")
    for ticket in (survivor, merged):
        if ticket.merged_into_id is not None:
            raise TicketRuleError(
                f"ticket #{ticket.id} was already merged into #{ticket.merged_into_id}"
            )
    if survivor.status == TicketStatus.CLOSED:
        raise TicketRuleError("a closed ticket cannot take in another; merge the other way")
    if tell_customer is not None and survivor.channel in TOUCH_POINTS:
        raise TicketRuleError(
            f"the customer cannot be told on {survivor.channel}; merge without telling them"
        )
    moved: dict[str, int] = {}
    for model in (Message, AuditEntry):
        result = await session.execute(
            update(model)
            .where(model.ticket_id == merged.id)
            .values(ticket_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
        moved[model.__tablename__] = rows_matched(result)
    # Tickets merged into this one earlier now point to the survivor too: one hop, always.
    await session.execute(
        update(Ticket)
        .where(Ticket.merged_into_id == merged.id)
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    survivor.first_response_at = _earliest(survivor.first_response_at, merged.first_response_at)
    survivor.handed_over_at = _earliest(survivor.handed_over_at, merged.handed_over_at)
    survivor.last_customer_message_at = _latest(
        survivor.last_customer_message_at, merged.last_customer_message_at
    )
    # Nothing the merged ticket was is lost: a complaint stays a complaint, urgency stays.
    if merged.kind == TicketKind.COMPLAINT:
        survivor.kind = TicketKind.COMPLAINT
    survivor.priority = max(survivor.priority, merged.priority, key=PRIORITY_ORDER.index)
    survivor.updated_at = now
    merged.merged_into_id = survivor.id
    merged.status = TicketStatus.CLOSED
    merged.closed_at = now
    merged.resolved_at = merged.resolved_at or now
    merged.updated_at = now
    _audit(session, agent, survivor.id, now, "ticket.merged", merged=merged.id, moved=moved)
    _audit(session, agent, merged.id, now, "ticket.merged_into", survivor=survivor.id)
    record(session, TicketsMerged(survivor.id, merged.id))
    if tell_customer is None:
        return Outcome()
    text = clean_text(tell_customer).strip()
    if not text:
        raise TicketRuleError("say what the customer should be told, or do not tell them")
    told = await bot_reply(session, survivor, text, now=now, author=AuthorType.SYSTEM)
    assert told.message is not None
    told.message.agent_id = agent.id
    _audit(session, agent, survivor.id, now, "ticket.merge_told", message_id=told.message.id)
    return told


async def split(
    session: AsyncSession,
    agent: Agent,
    ticket: Ticket,
    message_id: int,
    *,
    now: datetime,
    subject: str | None = None,
) -> Ticket:
    """Move one message of `ticket` into a new ticket of the same customer, team and
    assignee. Returns the new ticket."""
    message = await session.scalar(
        select(Message).where(Message.id == message_id, Message.ticket_id == ticket.id)
    )
    if message is None:
        raise TicketRuleError(f"ticket #{ticket.id} has no message {message_id}")
    if message.direction == Direction.NOTE:
        raise TicketRuleError("a note stays with its ticket; split out a message instead")
    if ticket.merged_into_id is not None:
        raise TicketRuleError(f"ticket #{ticket.id} was merged into #{ticket.merged_into_id}")
    others = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.id != message.id,
            Message.direction != Direction.NOTE,
        )
    )
    if not others:
        raise TicketRuleError("a ticket's only message cannot be split out")
    title = clean_text(subject or "").strip() or _first_line(message.text) or ticket.subject
    inbound = message.direction == Direction.IN
    new = Ticket(
        subject=title[:SUBJECT_LENGTH],
        status=TicketStatus.NEW if inbound else TicketStatus.OPEN,
        priority=ticket.priority,
        kind=ticket.kind,
        channel=message.channel,
        customer_id=ticket.customer_id,
        assignee_id=ticket.assignee_id,
        team_id=ticket.team_id,
        created_at=now,
        updated_at=now,
        last_customer_message_at=message.created_at if inbound else None,
        first_response_at=None if inbound else message.created_at,
        handed_over_at=ticket.handed_over_at,
    )
    session.add(new)
    await session.flush()
    message.ticket_id = new.id
    ticket.updated_at = now
    _audit(session, agent, ticket.id, now, "ticket.split", message_id=message.id, into=new.id)
    _audit(
        session, agent, new.id, now, "ticket.split_from", message_id=message.id, source=ticket.id
    )
    record(
        session,
        TicketCreated(
            new.id,
            new.customer_id,
            new.channel,
            opened_by_agent_id=agent.id,
            assignee_id=new.assignee_id,
        ),
        MessageSplit(ticket.id, new.id, message.id),
    )
    return new


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a and b else a or b


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a and b else a or b


def _audit(
    session: AsyncSession,
    agent: Agent,
    ticket_id: int,
    now: datetime,
    action: str,
    **detail: object,
) -> None:
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent.id,
        ticket_id=ticket_id,
        action=action,
        **detail,
    )
