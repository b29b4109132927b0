"""What people do to a ticket: see it, reply, add a note, change status, priority, assignee.

Every function runs inside the caller's transaction, writes the audit trail, and records its
events on the session, to be committed with the change (`storage.event_log.record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.customers.models import Identity
from helpdesk.delivery.models import OutboxItem
from helpdesk.events.types import NoteAdded, ReplyQueued, TicketChanged
from helpdesk.messages import OutboundAttachment, QuickReply
from helpdesk.staff.models import Agent, Team
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import (
    DEFAULT_ROOT_CAUSES,
    Attachment,
    AuthorType,
    ComplaintResolution,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)


class TicketRuleError(Exception):
    """The change is not allowed; the message says why in words an agent understands."""


@dataclass(slots=True)
class Outcome:
    message: Message | None = None
    duplicate: bool = False


async def reply(
    session: AsyncSession,
    agent: Agent,
    ticket: Ticket,
    text: str,
    *,
    now: datetime,
    idempotency_key: str | None = None,
    attachments: Sequence[OutboundAttachment] = (),
    via: Identity | None = None,
) -> Outcome:
    """Commit the reply together with its delivery job; the outbox worker sends it.
    `attachments` are files already in the attachment store. `via` sends it on another of the
    customer's addresses (`reply_channels.reply_address` checks it) instead of where they last
    wrote on the ticket's channel."""
    text = clean_text(text).strip()
    if not text:
        raise TicketRuleError("a reply needs text")
    external_id = f"reply:{agent.id}:{idempotency_key}" if idempotency_key else None
    if idempotency_key is not None:
        earlier = await earlier_reply(session, agent, ticket, idempotency_key)
        if earlier is not None:
            return Outcome(message=earlier, duplicate=True)
    message = await _queue_outbound(
        session,
        ticket,
        text,
        now,
        AuthorType.AGENT,
        agent_id=agent.id,
        external_id=external_id,
        via=via,
    )
    for file in attachments:
        session.add(
            Attachment(
                message_id=message.id,
                filename=file.filename[:255],
                content_type=file.content_type[:255],
                size=file.size,
                sha256=file.sha256,
            )
        )
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    # A person is talking to the customer now; the bot keeps out of it.
    ticket.handed_over_at = ticket.handed_over_at or now
    if ticket.status == TicketStatus.NEW:
        ticket.status = TicketStatus.OPEN
    ticket.updated_at = now
    await session.flush()
    _audit(session, agent, ticket, now, "ticket.replied", message_id=message.id)
    record(session, ReplyQueued(ticket.id, message.id, ticket.channel, AuthorType.AGENT.value))
    return Outcome(message)


async def earlier_reply(
    session: AsyncSession, agent: Agent, ticket: Ticket, idempotency_key: str
) -> Message | None:
    """The agent's reply already stored under this idempotency key, if any."""
    return await session.scalar(
        select(Message).where(
            Message.channel == ticket.channel,
            Message.external_id == f"reply:{agent.id}:{idempotency_key}",
        )
    )


async def bot_reply(
    session: AsyncSession,
    ticket: Ticket,
    text: str,
    *,
    now: datetime,
    quick_replies: Sequence[QuickReply] = (),
    author: AuthorType = AuthorType.BOT,
) -> Outcome:
    """A message from the bot (or the system) to the customer, delivered like an agent's.
    It is not a first response: the SLA clock waits for a person."""
    message = await _queue_outbound(
        session, ticket, clean_text(text).strip(), now, author, quick_replies=quick_replies
    )
    ticket.updated_at = now
    record(session, ReplyQueued(ticket.id, message.id, ticket.channel, author.value))
    return Outcome(message)


async def bot_replies(
    session: AsyncSession,
    replies: Sequence[tuple[Ticket, str]],
    *,
    now: datetime,
    author: AuthorType = AuthorType.BOT,
) -> list[Message]:
    """`bot_reply` for many tickets at once: one flush for all the messages, not one each."""
    messages = [
        Message(
            ticket_id=ticket.id,
            direction=Direction.OUT,
            author_type=author,
            customer_id=ticket.customer_id,
            channel=ticket.channel,
            text=clean_text(text).strip(),
            created_at=now,
            delivery_state=DeliveryState.PENDING,
        )
        for ticket, text in replies
    ]
    session.add_all(messages)
    await session.flush()
    for (ticket, _), message in zip(replies, messages, strict=True):
        session.add(
            OutboxItem(
                message_id=message.id, channel=ticket.channel, next_attempt_at=now, created_at=now
            )
        )
        ticket.updated_at = now
        record(session, ReplyQueued(ticket.id, message.id, ticket.channel, author.value))
    return messages


async def _queue_outbound(
    session: AsyncSession,
    ticket: Ticket,
    text: str,
    now: datetime,
    author: AuthorType,
    *,
    agent_id: int | None = None,
    external_id: str | None = None,
    quick_replies: Sequence[QuickReply] = (),
    via: Identity | None = None,
) -> Message:
    channel = via.channel if via is not None else ticket.channel
    message = Message(
        ticket_id=ticket.id,
        direction=Direction.OUT,
        author_type=author,
        agent_id=agent_id,
        customer_id=ticket.customer_id,
        # The address chosen is kept (as when an agent writes first): addressing sends there.
        identity_id=via.id if via is not None else None,
        channel=channel,
        external_id=external_id,
        text=text,
        created_at=now,
        delivery_state=DeliveryState.PENDING,
        quick_replies=[{"payload": q.payload, "label": q.label} for q in quick_replies] or None,
    )
    session.add(message)
    await session.flush()
    item = OutboxItem(message_id=message.id, channel=channel, next_attempt_at=now, created_at=now)
    session.add(item)
    return message


async def add_note(
    session: AsyncSession, agent: Agent, ticket: Ticket, text: str, *, now: datetime
) -> Outcome:
    """An internal note: visible to agents only, never sent to the customer."""
    text = clean_text(text).strip()
    if not text:
        raise TicketRuleError("a note needs text")
    outcome = await _store_note(session, ticket, text, now, AuthorType.AGENT, agent_id=agent.id)
    assert outcome.message is not None
    _audit(session, agent, ticket, now, "ticket.noted", message_id=outcome.message.id)
    return outcome


async def bot_note(session: AsyncSession, ticket: Ticket, text: str, *, now: datetime) -> Outcome:
    """The bot's note to agents (why it stepped aside, what it would have suggested)."""
    return await _store_note(session, ticket, clean_text(text).strip(), now, AuthorType.BOT)


async def _store_note(
    session: AsyncSession,
    ticket: Ticket,
    text: str,
    now: datetime,
    author: AuthorType,
    *,
    agent_id: int | None = None,
) -> Outcome:
    message = Message(
        ticket_id=ticket.id,
        direction=Direction.NOTE,
        author_type=author,
        agent_id=agent_id,
        channel="internal",
        text=text,
        created_at=now,
    )
    session.add(message)
    ticket.updated_at = now
    await session.flush()
    record(session, NoteAdded(ticket.id, message.id))
    return Outcome(message)


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """The fields an agent may change; None means unchanged. `clear_*` empties a field."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    kind: TicketKind | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    clear_assignee: bool = False
    clear_team: bool = False
    # Resolving a complaint needs both: what was done to put it right, and why it happened.
    remedy: str | None = None
    root_cause: str | None = None


async def change(
    session: AsyncSession,
    agent: Agent,
    ticket: Ticket,
    changes: TicketChanges,
    *,
    now: datetime,
    root_causes: Sequence[str] = DEFAULT_ROOT_CAUSES,
) -> Outcome:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}

    def set_field(name: str, value: Any) -> None:
        old = getattr(ticket, name)
        if old != value:
            before[name], after[name] = _plain(old), _plain(value)
            setattr(ticket, name, value)

    if changes.status is not None:
        kind = changes.kind or ticket.kind
        if kind == TicketKind.COMPLAINT and _resolves(ticket, changes.status):
            _complaint_resolution(session, agent, ticket, changes, root_causes, now)
        _apply_status(ticket, changes.status, now)
        set_field("status", changes.status)
    if changes.priority is not None:
        set_field("priority", changes.priority)
    if changes.kind is not None:
        set_field("kind", changes.kind)
    if changes.clear_assignee:
        set_field("assignee_id", None)
    elif changes.assignee_id is not None:
        assignee = await session.get(Agent, changes.assignee_id)
        if assignee is None or not assignee.active:
            raise TicketRuleError(f"there is no active agent with id {changes.assignee_id}")
        set_field("assignee_id", assignee.id)
    if changes.clear_team:
        set_field("team_id", None)
    elif changes.team_id is not None:
        if await session.get(Team, changes.team_id) is None:
            raise TicketRuleError(f"there is no team with id {changes.team_id}")
        set_field("team_id", changes.team_id)
    if not after:
        return Outcome()
    ticket.updated_at = now
    _audit(session, agent, ticket, now, "ticket.changed", before=before, after=after)
    record(session, TicketChanged(ticket.id, after))
    return Outcome()


def _resolves(ticket: Ticket, status: TicketStatus) -> bool:
    done = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    return status in done and ticket.status not in done


def _complaint_resolution(
    session: AsyncSession,
    agent: Agent,
    ticket: Ticket,
    changes: TicketChanges,
    root_causes: Sequence[str],
    now: datetime,
) -> None:
    """A complaint is closed only with a remedy and a root cause from the configured list."""
    remedy = clean_text(changes.remedy or "").strip()
    if not remedy:
        raise TicketRuleError("a complaint is resolved only with a remedy: say what was done")
    if changes.root_cause not in root_causes:
        raise TicketRuleError(
            "a complaint is resolved only with a root cause, one of: " + "; ".join(root_causes)
        )
    session.add(
        ComplaintResolution(
            ticket_id=ticket.id,
            root_cause=changes.root_cause,
            remedy=remedy,
            resolved_by=agent.id,
            resolved_at=now,
        )
    )


def _audit(
    session: AsyncSession, agent: Agent, ticket: Ticket, now: datetime, action: str, **detail: Any
) -> None:
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent.id,
        ticket_id=ticket.id,
        action=action,
        **detail,
    )


def _apply_status(ticket: Ticket, status: TicketStatus, now: datetime) -> None:
    if ticket.status == TicketStatus.CLOSED and status != TicketStatus.CLOSED:
        raise TicketRuleError(
            "a closed ticket cannot be reopened; the customer's next message opens a new one"
        )
    if status == TicketStatus.RESOLVED and ticket.status != TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif status == TicketStatus.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif status in (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING):
        ticket.resolved_at = None


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value
