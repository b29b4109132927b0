"""Old events leave the log once every reaction has handled them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select

from helpdesk.storage.database import Database, rows_matched
from helpdesk.storage.event_log import EVENTS, ReactionCheckpoint, latest_id


async def prune(db: Database, reactions: Collection[str], *, older_than: datetime) -> int:
    """Delete the events that every one of `reactions` has passed and that were written before
    `older_than`. Checkpoints of reactions no longer in the table do not hold pruning back."""
    async with db.transaction() as session:
        handled = await session.scalar(
            select(func.min(ReactionCheckpoint.last_event_id)).where(
                ReactionCheckpoint.name.in_(reactions)
            )
        )
        if handled is None:
            handled = await latest_id(session)
        result = await session.execute(
            delete(EVENTS).where(EVENTS.c.id <= handled, EVENTS.c.created_at < older_than)
        )
    return rows_matched(result)
