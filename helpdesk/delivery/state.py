"""A message's delivery state, changed only here: by the outbox worker's results, a customer's
receipt, or a bounce. Each change is recorded as `DeliveryChanged` with the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.events.types import DeliveryChanged
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType, DeliveryState, Direction, Message, Ticket


async def confirm_received(
    session: AsyncSession, customer_id: int, message_ids: Sequence[int]
) -> list[int]:
    """The customer's own client showed these replies: they are delivered. Only the customer's
    own outbound messages can be confirmed; returns the ids that changed."""
    own_tickets = select(Ticket.id).where(Ticket.customer_id == customer_id)
    changed = (
        await session.execute(
            update(Message)
            .where(
                Message.id.in_(message_ids),
                Message.direction == Direction.OUT,
                Message.ticket_id.in_(own_tickets),
                Message.delivery_state.in_([DeliveryState.PENDING, DeliveryState.SENT]),
            )
            .values(delivery_state=DeliveryState.DELIVERED)
            .returning(Message.id, Message.ticket_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for message_id, ticket_id in changed:
        record(session, DeliveryChanged(ticket_id, message_id, DeliveryState.DELIVERED.value))
    return [message_id for message_id, _ in changed]


async def record_bounce(
    session: AsyncSession, message_id: int, ticket_id: int, status: str, *, now: datetime
) -> bool:
    """A bounce names one of our outbound messages: it failed. False if it names none."""
    message = await session.get(Message, message_id)
    if message is None or message.ticket_id != ticket_id or message.direction != Direction.OUT:
        return False
    message.delivery_state = DeliveryState.FAILED
    message.delivery_error = f"bounced: {status}"[:2000]
    audit.automatic(
        session,
        AuthorType.SYSTEM,
        at=now,
        ticket_id=message.ticket_id,
        action="email.bounced",
        message_id=message.id,
        status=status,
    )
    record(session, DeliveryChanged(message.ticket_id, message.id, DeliveryState.FAILED.value))
    return True


async def retry_failed(
    session: AsyncSession, message: Message, *, agent_id: int, now: datetime
) -> bool:
    """An agent asks to send a failed reply again: its delivery job is due now, with fresh
    attempts, and the message is pending again. False if the message had not failed (or has
    no delivery job: a bounce of a reply whose job is long gone gets a new one)."""
    if message.direction != Direction.OUT or message.delivery_state != DeliveryState.FAILED:
        return False
    item = await session.scalar(
        select(OutboxItem).where(OutboxItem.message_id == message.id).order_by(OutboxItem.id.desc())
    )
    if item is None:
        item = OutboxItem(message_id=message.id, channel=message.channel, created_at=now)
        session.add(item)
    item.status = OutboxStatus.PENDING
    item.attempts = 0
    item.next_attempt_at = now
    item.lease_until = None
    item.done_at = None
    error = message.delivery_error
    message.delivery_state = DeliveryState.PENDING
    message.delivery_error = None
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent_id,
        ticket_id=message.ticket_id,
        action="delivery.retried",
        message_id=message.id,
        error=error,
    )
    record(session, DeliveryChanged(message.ticket_id, message.id, DeliveryState.PENDING.value))
    return True
