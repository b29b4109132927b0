"""Who an agent's reply on a ticket goes to, shown and changed before sending.

The customer is always the recipient; the copied participants are the agent's to choose, up to
`reply_participants_max`. Requests (people who wrote in without being copied) are listed so the
agent can accept them by copying them; what the agent leaves out is marked removed, so the next
Cc of the same person does not bring them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.limits import readable_address
from helpdesk.channels.email.models import EmailParticipant, ParticipantRole
from helpdesk.delivery.addressing import reply_address
from helpdesk.tickets.models import Ticket


class RecipientsError(ValueError):
    """The agent's list cannot be used; the text says why."""


@dataclass(frozen=True, slots=True)
class Person:
    address: str
    name: str


@dataclass(frozen=True, slots=True)
class Recipients:
    to: str | None
    cc: list[Person]
    requests: list[Person]
    removed: list[Person]
    limit: int


async def recipients(session: AsyncSession, ticket: Ticket, limit: int) -> Recipients:
    rows = (
        await session.scalars(
            select(EmailParticipant)
            .where(EmailParticipant.ticket_id == ticket.id)
            .order_by(EmailParticipant.id)
        )
    ).all()

    def having(role: str) -> list[Person]:
        return [Person(r.address, r.display_name) for r in rows if r.role == role]

    return Recipients(
        to=await reply_address(session, ticket),
        cc=having(ParticipantRole.COPIED)[:limit],
        requests=having(ParticipantRole.REQUEST),
        removed=having(ParticipantRole.REMOVED),
        limit=limit,
    )


async def set_copied(
    session: AsyncSession, ticket: Ticket, addresses: list[str], limit: int, now: datetime
) -> None:
    """Exactly these people are copied on the ticket's next replies."""
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    if len(wanted) > limit:
        raise RecipientsError(f"at most {limit} people can be copied on a reply")
    unreadable = [a for a in wanted if not readable_address(a)]
    if unreadable:
        raise RecipientsError(f"not an email address: {unreadable[0][:100]}")
    rows = {
        row.address: row
        for row in await session.scalars(
            select(EmailParticipant)
            .where(EmailParticipant.ticket_id == ticket.id)
            .with_for_update()
        )
    }
    for address, row in rows.items():
        if address in wanted:
            row.role = ParticipantRole.COPIED
        elif row.role == ParticipantRole.COPIED:
            row.role = ParticipantRole.REMOVED
    for address in wanted:
        if address not in rows:
            session.add(
                EmailParticipant(
                    ticket_id=ticket.id,
                    address=address,
                    display_name="",
                    role=ParticipantRole.COPIED,
                    created_at=now,
                )
            )
