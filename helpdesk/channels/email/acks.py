"""Automatic acknowledgements: one per new ticket, a few per sender and hour, never to machines
(the importer does not ask for one when the mail was automatic)."""

from __future__ import annotations

from datetime import datetime, timedelta

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.settings import EmailSettings
from helpdesk.conversation.models import EmailAutoAck
from helpdesk.events.types import Event
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuthorType, Ticket

# Plain-text templates: nothing here is HTML, so nothing is escaped.
text_templates = Environment(
    loader=PackageLoader("helpdesk", "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


async def acknowledge(
    session: AsyncSession, settings: EmailSettings, ticket_id: int, sender: str, *, now: datetime
) -> list[Event]:
    if await session.get(EmailAutoAck, ticket_id) is not None:
        return []
    recent = await session.scalar(
        select(func.count())
        .select_from(EmailAutoAck)
        .where(EmailAutoAck.address == sender, EmailAutoAck.sent_at > now - timedelta(hours=1))
    )
    if (recent or 0) >= settings.auto_ack_per_sender_per_hour:
        return []
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return []
    session.add(EmailAutoAck(ticket_id=ticket_id, address=sender, sent_at=now))
    text = text_templates.get_template("email_ack.txt").render(
        ticket_number=ticket_id,
        subject=ticket.subject,
        expected_answer=settings.expected_answer,
    )
    outcome = await bot_reply(session, ticket, text.strip(), now=now, author=AuthorType.SYSTEM)
    return outcome.events
