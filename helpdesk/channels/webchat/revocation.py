"""Revoking chat tokens: an agent ends a chat visitor's access (a stolen token, an abuser).
Every token of that visitor is refused from then on, at renewal and at the socket's hello, and
the sockets open now are closed (through the fan-out, in every process)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.webchat.models import ChatRevocation
from helpdesk.customers.models import Identity
from helpdesk.tickets.models import Ticket

CHANNEL = "webchat"
# The frame that tells each process's hub to close a visitor's sockets; never sent to a client.
REVOKED_FRAME = "revoked"


async def is_revoked(session: AsyncSession, visitor: str) -> bool:
    found = await session.scalar(
        select(ChatRevocation.visitor).where(ChatRevocation.visitor == visitor)
    )
    return found is not None


async def visitors_of_ticket(session: AsyncSession, ticket: Ticket) -> list[str]:
    """The chat visitors of the ticket's customer (one per browser it chatted from)."""
    found = await session.scalars(
        select(Identity.address).where(
            Identity.customer_id == ticket.customer_id, Identity.channel == CHANNEL
        )
    )
    return sorted(found)


async def revoke(
    session: AsyncSession, visitors: list[str], *, agent_id: int, reason: str, now: datetime
) -> list[str]:
    """Record the revocations; returns the visitors newly revoked."""
    done = set(
        await session.scalars(
            select(ChatRevocation.visitor).where(ChatRevocation.visitor.in_(visitors))
        )
    )
    fresh = [v for v in visitors if v not in done]
    session.add_all(
        ChatRevocation(visitor=v, revoked_at=now, revoked_by=agent_id, reason=reason) for v in fresh
    )
    return fresh
