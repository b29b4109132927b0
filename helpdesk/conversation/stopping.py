"""A customer withdraws consent to messages they did not ask for, themselves, on the channel
they write on: Telegram's `/stop` command, or a message that is only "stop" or "unsubscribe"
(as with text messages). The answer confirms it; their own questions are still answered."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent import CONSENT_CHANNELS, record_consent
from helpdesk.customers.consent_models import ConsentSource
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuthorType, Message, Ticket

STOPPED_TEXT = (
    "Understood: we will send you no messages you did not ask for here. "
    "When you write to us, we still answer."
)
# The whole message, so that "please stop the delivery" is not taken for it.
_STOP = re.compile(
    r"^\s*(/?stop|unsubscribe|opt[\s-]?out|abmelden|désabonner|стоп)\s*[.!]*\s*$",
    re.IGNORECASE,
)


def asks_to_stop(text: str) -> bool:
    return len(text) <= 40 and _STOP.match(text) is not None


async def stop_unasked(
    session: AsyncSession, ticket: Ticket, message: Message, *, now: datetime
) -> None:
    if message.channel not in CONSENT_CHANNELS:
        return
    await record_consent(
        session,
        ticket.customer_id,
        message.channel,
        False,
        now=now,
        source=ConsentSource.CUSTOMER,
        note=f"the customer wrote {message.text.strip()[:20]!r} (message {message.id})",
    )
    await bot_reply(session, ticket, STOPPED_TEXT, now=now, author=AuthorType.SYSTEM)
