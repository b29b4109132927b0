"""What a queued message is sent as, and to whom: the address an agent chose when writing
first, else the ticket's customer at the address they last wrote from. Read for a whole round
of the outbox at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Identity
from helpdesk.messages import OutboundAttachment, OutboundMessage, QuickReply
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import Attachment, Direction, Message, Ticket


async def outbound_many(
    session: AsyncSession, messages: list[Message]
) -> dict[int, OutboundMessage]:
    """Each message as its channel is asked to send it, by message id; one without a reachable
    recipient is left out (the caller fails it)."""
    tickets = await by_id(session, Ticket, {m.ticket_id for m in messages})
    recipients = await recipients_of(session, list(tickets.values()))
    # An agent who wrote first chose the address; everything else goes where the customer wrote.
    chosen = await by_id(session, Identity, {m.identity_id for m in messages if m.identity_id})
    agents = await by_id(session, Agent, {m.agent_id for m in messages if m.agent_id})
    files: dict[int, list[Attachment]] = {}
    if messages:
        for file in await session.scalars(
            select(Attachment)
            .where(Attachment.message_id.in_([m.id for m in messages]))
            .order_by(Attachment.id)
        ):
            files.setdefault(file.message_id, []).append(file)
    found: dict[int, OutboundMessage] = {}
    for message in messages:
        identity = (
            chosen.get(message.identity_id)
            if message.identity_id is not None
            else recipients.get(message.ticket_id)
        )
        if identity is None or identity.unreachable:
            continue
        author = agents.get(message.agent_id) if message.agent_id else None
        found[message.id] = OutboundMessage(
            message_id=message.id,
            ticket_id=message.ticket_id,
            channel=message.channel,
            recipient=identity.address,
            text=message.text,
            html=message.html,
            author_name=author.name if author else "Support",
            sent_at=message.created_at,
            quick_replies=tuple(
                QuickReply(q["payload"], q["label"]) for q in message.quick_replies or ()
            ),
            author_type=message.author_type.value,
            attachments=tuple(
                OutboundAttachment(f.filename, f.content_type, f.sha256, f.size)
                for f in files.get(message.id, ())
            ),
        )
    return found


async def recipients_of(session: AsyncSession, tickets: list[Ticket]) -> dict[int, Identity]:
    """`_recipient` for many tickets at once, with the same answer for each."""
    if not tickets:
        return {}
    latest = (
        select(Message.ticket_id, func.max(Message.id).label("last"))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            Message.ticket_id.in_([t.id for t in tickets]),
            Message.direction == Direction.IN,
            Message.identity_id.is_not(None),
            Message.customer_id == Ticket.customer_id,
        )
        .group_by(Message.ticket_id)
        .subquery()
    )
    rows = await session.execute(
        select(latest.c.ticket_id, Identity)
        .join(Message, Message.id == latest.c.last)
        .join(Identity, Identity.id == Message.identity_id)
    )
    found: dict[int, Identity] = {row[0]: row[1] for row in rows}
    for ticket in tickets:
        if ticket.id not in found:
            identity = await _recipient(session, ticket)
            if identity is not None:
                found[ticket.id] = identity
    return found


async def by_id(
    session: AsyncSession, model: Any, ids: set[int], *, for_update: bool = False
) -> dict[int, Any]:
    if not ids:
        return {}
    query = select(model).where(model.id.in_(sorted(ids)))
    if for_update:
        query = query.with_for_update()
    return {row.id: row for row in await session.scalars(query)}


async def _recipient(session: AsyncSession, ticket: Ticket) -> Identity | None:
    """The address the customer last wrote from on this ticket, else any on its channel.

    Only the ticket's own customer: someone else whose message was filed on the ticket (a
    participant, or a stranger who knew a Message-ID) never becomes who replies go to."""
    last_inbound = await session.scalar(
        select(Message.identity_id)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.IN,
            Message.identity_id.is_not(None),
            Message.customer_id == ticket.customer_id,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if last_inbound is not None:
        return await session.get(Identity, last_inbound)
    return await session.scalar(
        select(Identity)
        .where(Identity.customer_id == ticket.customer_id, Identity.channel == ticket.channel)
        .limit(1)
    )


async def reply_address(session: AsyncSession, ticket: Ticket) -> str | None:
    """Where a reply on this ticket goes, for an agent to see before sending."""
    identity = await _recipient(session, ticket)
    return None if identity is None or identity.unreachable else identity.address
