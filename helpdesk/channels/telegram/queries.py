"""What admins read about the Telegram channel: the updates it skipped, and why."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram.models import TelegramSkippedUpdate


@dataclass(frozen=True, slots=True)
class SkippedUpdates:
    total: int
    # Newest first.
    recent: list[TelegramSkippedUpdate]


async def skipped_updates(session: AsyncSession, *, limit: int = 50) -> SkippedUpdates:
    total = await session.scalar(select(func.count()).select_from(TelegramSkippedUpdate))
    recent = await session.scalars(
        select(TelegramSkippedUpdate).order_by(TelegramSkippedUpdate.id.desc()).limit(limit)
    )
    return SkippedUpdates(total or 0, list(recent))
