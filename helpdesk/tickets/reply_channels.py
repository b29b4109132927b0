"""Where an agent's reply may go besides the ticket's own channel: another of the customer's
linked channels (they wrote by chat, the answer goes by email). Only addresses the customer has
proven and that can still be reached, on channels this helpdesk sends on."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Identity
from helpdesk.tickets.actions import TicketRuleError
from helpdesk.tickets.models import Ticket


async def reply_addresses(
    session: AsyncSession, ticket: Ticket, channels: Collection[str]
) -> list[Identity]:
    """The customer's addresses a reply may go to, the ticket's own channel first."""
    found = await session.scalars(
        select(Identity)
        .where(
            Identity.customer_id == ticket.customer_id,
            Identity.verified,
            Identity.unreachable.is_(False),
            Identity.channel.in_(list(channels)),
        )
        .order_by(Identity.id)
    )
    return sorted(found, key=lambda i: (i.channel != ticket.channel, i.id))


async def reply_address(
    session: AsyncSession, ticket: Ticket, identity_id: int, channels: Collection[str]
) -> Identity:
    """The chosen address, or TicketRuleError saying why a reply cannot go there."""
    identity = await session.get(Identity, identity_id)
    if identity is None or identity.customer_id != ticket.customer_id:
        raise TicketRuleError(f"address {identity_id} is not this ticket's customer's")
    if not identity.verified:
        raise TicketRuleError("the customer has not proven this address; reply where they wrote")
    if identity.unreachable:
        raise TicketRuleError(f"the customer cannot be reached on {identity.channel} now")
    if identity.channel not in channels:
        raise TicketRuleError(f"this helpdesk does not send on {identity.channel}")
    return identity
