"""What admins and agents read about the email channel from the database: how far each mailbox
got, and the Date headers kept on messages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.models import EmailCheckpoint, EmailOriginalDate


async def checkpoints(session: AsyncSession) -> dict[str, EmailCheckpoint]:
    """Each imported mailbox's checkpoint, by mailbox name."""
    return {c.mailbox: c for c in await session.scalars(select(EmailCheckpoint))}


async def original_dates(session: AsyncSession, message_ids: list[int]) -> dict[int, str]:
    """The Date header as sent, by message id, for those of the messages whose time is their
    arrival because the header lay in the future or could not be read."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(EmailOriginalDate.message_id, EmailOriginalDate.header).where(
            EmailOriginalDate.message_id.in_(message_ids)
        )
    )
    return {message_id: header for message_id, header in rows}
