"""Threading follows a message that an agent split out into a ticket of its own.

The customer's Message-IDs are stored per ticket (`EmailReference`), so a reply naming the
split-out mail would still land on the old ticket. This reaction to `MessageSplit` moves the
references of that message to the new ticket. (Merged tickets need nothing: intake follows a
merged ticket to its survivor, and our own Message-IDs are looked up by message, wherever it is.)
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.models import EmailReference
from helpdesk.events.types import MessageSplit


async def on_message_split(session: AsyncSession, event: MessageSplit) -> None:
    await session.execute(
        update(EmailReference)
        .where(EmailReference.message_id == event.message_id)
        .values(ticket_id=event.new_ticket_id)
        .execution_options(synchronize_session=False)
    )
