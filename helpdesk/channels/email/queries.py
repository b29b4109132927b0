"""What admins read about the email channel from the database: how far each mailbox got."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.models import EmailCheckpoint


async def checkpoints(session: AsyncSession) -> dict[str, EmailCheckpoint]:
    """Each imported mailbox's checkpoint, by mailbox name."""
    return {c.mailbox: c for c in await session.scalars(select(EmailCheckpoint))}
