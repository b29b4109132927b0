"""Giving a ticket to people: on request, on a complaint, or when the bot steps aside.

The customer is never left with only the bot: every hand-over is told to the customer, and the
answer bot's own replies carry the way to a person (see `helpdesk.kb`).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import TicketChanged, TicketHandedOver
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuthorType, Priority, Ticket, TicketKind

HANDED_OVER_TEXT = (
    "Thank you. I have passed your message to our team: a person will answer you here."
)
COMPLAINT_TEXT = (
    "We are sorry that we let you down. Your complaint is registered as ticket #{number}; "
    "a person will look into it and answer you here."
)

# Plain words asking for a person, in the languages customers most often write in. A whole
# message like "agent" or "talk to a human" counts; a sentence that merely mentions an agent
# ("my agent at the branch said ...") does not.
_PERSON_WORDS = (
    r"((a|an|the|real|live)\s+)*(human|person|agent|operator|someone|somebody|representative|"
    r"people|support|staff|manager)(\s+(please|pls))?"
)
_ASKS_FOR_PERSON = re.compile(
    rf"""^\s*(
        (i\s+)?(want|need|would\s+like|wanna|can\s+i|could\s+i|let\s+me)\s+
            (to\s+)?(talk|speak|chat)\s+(to|with)\s+{_PERSON_WORDS}
      | (talk|speak|chat)\s+(to|with)\s+{_PERSON_WORDS}
      | (connect|transfer)\s+me\s+(to|with)\s+{_PERSON_WORDS}
      | {_PERSON_WORDS}
      | /human | /agent | /operator
      | (оператор|человек|живой\s+человек|позовите\s+оператора|соедините\s+с\s+оператором)
      | (mensch|mitarbeiter|einen\s+mitarbeiter\s+bitte)
      | (humain|un\s+humain|parler\s+à\s+un\s+humain|un\s+conseiller)
      | (humano|una\s+persona|hablar\s+con\s+una\s+persona|un\s+agente)
    )\s*[.!?]*\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def asks_for_person(text: str) -> bool:
    return len(text) <= 80 and _ASKS_FOR_PERSON.match(text) is not None


async def hand_over(
    session: AsyncSession, ticket: Ticket, reason: str, *, now: datetime, tell_customer: bool = True
) -> None:
    """Give the ticket to people: the bot falls silent and routing takes it. Idempotent."""
    if ticket.handed_over_at is not None:
        return
    ticket.handed_over_at = now
    ticket.updated_at = now
    audit.automatic(
        session,
        AuthorType.BOT,
        at=now,
        ticket_id=ticket.id,
        action="ticket.handed_over",
        reason=reason,
    )
    record(session, TicketHandedOver(ticket.id, reason))
    if tell_customer:
        await bot_reply(session, ticket, HANDED_OVER_TEXT, now=now, author=AuthorType.SYSTEM)


def mark_complaint(ticket: Ticket) -> dict[str, str]:
    """Make the ticket a complaint of at least high priority; what changed, for the audit."""
    changes: dict[str, str] = {}
    if ticket.kind != TicketKind.COMPLAINT:
        ticket.kind = TicketKind.COMPLAINT
        changes["kind"] = TicketKind.COMPLAINT.value
    if ticket.priority in (Priority.LOW, Priority.NORMAL):
        ticket.priority = Priority.HIGH
        changes["priority"] = Priority.HIGH.value
    return changes


async def open_complaint(session: AsyncSession, ticket: Ticket, *, now: datetime) -> None:
    """A complaint is easy to make: one tap marks the ticket and puts a person on it."""
    changes = mark_complaint(ticket)
    if changes:
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.CUSTOMER,
            actor_id=ticket.customer_id,
            ticket_id=ticket.id,
            action="ticket.complaint_opened",
            **changes,
        )
        record(session, TicketChanged(ticket.id, changes))
        text = COMPLAINT_TEXT.format(number=ticket.id)
        await bot_reply(session, ticket, text, now=now, author=AuthorType.SYSTEM)
    await hand_over(session, ticket, "complaint", now=now, tell_customer=False)
