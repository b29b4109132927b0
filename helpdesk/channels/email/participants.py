"""Who besides the customer is on a ticket's mail, and who gets its replies.

Only the customer's mail (or a copied participant's) adds the people it copies, and never more
than `reply_participants_max` per ticket: a mail Cc'ing thousands must not make every reply a
mass mailing. Someone else who writes into a ticket (a stranger who knew a Message-ID) is stored
as a request an agent accepts or not; until then replies never go to them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.limits import ADDRESS_LENGTH, readable_address
from helpdesk.channels.email.models import EmailParticipant, ParticipantRole
from helpdesk.channels.email.parse import ParsedMail
from helpdesk.channels.email.settings import MailboxSettings
from helpdesk.customers.models import Identity
from helpdesk.intake.batch import Receipt
from helpdesk.storage.base import table_of
from helpdesk.tickets.models import Ticket

CHANNEL = "email"


async def record(
    session: AsyncSession,
    fresh: Sequence[tuple[ParsedMail, Receipt]],
    *,
    own: set[str],
    limit: int,
    now: datetime,
) -> None:
    """The people newly stored mails copy, and requests from senders who are neither the
    customer nor copied."""
    if not fresh:
        return
    tickets = {receipt.ticket_id for _, receipt in fresh}
    rows = await session.execute(
        select(Ticket.id, Ticket.customer_id).where(Ticket.id.in_(tickets))
    )
    owners = {row.id: row.customer_id for row in rows}
    known = await roles(session, tickets)
    customers = await customer_addresses(session, tickets)
    copied = Counter(t for (t, _), role in known.items() if role == ParticipantRole.COPIED)
    new: dict[tuple[int, str], tuple[str, str]] = {}
    for parsed, receipt in fresh:
        ticket = receipt.ticket_id
        from_customer = owners.get(ticket) == receipt.customer_id
        sender_key = (ticket, parsed.sender)
        sender_role = known.get(sender_key) or (new[sender_key][1] if sender_key in new else None)
        if not from_customer and sender_role != ParticipantRole.COPIED:
            if sender_role is None:
                new[(ticket, parsed.sender)] = (parsed.sender_name, ParticipantRole.REQUEST)
            continue  # whom a stranger copies is never added
        for name, address in (*parsed.cc, *parsed.to):
            key = (ticket, address)
            if (
                address in own
                or address == parsed.sender
                or address in customers.get(ticket, ())
                or key in known
                or key in new
                or len(address) > ADDRESS_LENGTH
            ):
                continue
            if copied[ticket] >= limit:
                break
            new[key] = (name, ParticipantRole.COPIED)
            copied[ticket] += 1
    if new:
        await session.execute(
            table_of(EmailParticipant).insert(),
            [
                {
                    "ticket_id": ticket,
                    "address": address,
                    "display_name": name[:200],
                    "role": role,
                    "created_at": now,
                }
                for (ticket, address), (name, role) in new.items()
            ],
        )


async def roles(session: AsyncSession, tickets: Iterable[int]) -> dict[tuple[int, str], str]:
    rows = await session.execute(
        select(EmailParticipant.ticket_id, EmailParticipant.address, EmailParticipant.role).where(
            EmailParticipant.ticket_id.in_(set(tickets))
        )
    )
    return {(row.ticket_id, row.address): row.role for row in rows}


async def customer_addresses(session: AsyncSession, tickets: Iterable[int]) -> dict[int, set[str]]:
    """Every email address of each ticket's customer."""
    ids = set(tickets)
    if not ids:
        return {}
    rows = await session.execute(
        select(Ticket.id, func.lower(Identity.address))
        .join(Identity, Identity.customer_id == Ticket.customer_id)
        .where(Ticket.id.in_(ids), Identity.channel == CHANNEL)
    )
    found: dict[int, set[str]] = {}
    for ticket_id, address in rows:
        found.setdefault(ticket_id, set()).add(address)
    return found


def as_customer(parsed: ParsedMail, box: MailboxSettings | None) -> ParsedMail:
    """The mail with its customer as sender: the Reply-To where the mailbox believes it (a web
    form sends as itself and names the person who filled it in as Reply-To)."""
    if parsed.reply_to is None or box is None or box.reply_to == "never":
        return parsed
    if box.reply_to == "trusted" and parsed.sender not in box.trusted_forms:
        return parsed
    name, address = parsed.reply_to
    if address == parsed.sender or not readable_address(address):
        return parsed
    return replace(parsed, sender=address, sender_name=name)
