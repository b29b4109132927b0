"""Where each reaction stands: its checkpoint, the events waiting for it, its failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from helpdesk.storage.database import Database
from helpdesk.storage.event_log import EVENTS, ReactionCheckpoint, ReactionFailure


@dataclass(frozen=True, slots=True)
class ReactionStatus:
    name: str
    event_types: list[str]
    # The last event this reaction has decided about (handled, declined or set aside).
    checkpoint: int
    # Events of its types committed after the checkpoint: waiting for it.
    waiting: int
    failures: int


async def reaction_status(
    db: Database, reactions: Mapping[str, tuple[int, Sequence[str]]]
) -> list[ReactionStatus]:
    """For each reaction name: (how far this process has read, the event types it handles)."""
    found = []
    async with db.read() as session:
        stored = dict(
            (
                await session.execute(
                    select(ReactionCheckpoint.name, ReactionCheckpoint.last_event_id)
                )
            ).all()
        )
        failures = dict(
            (
                await session.execute(
                    select(ReactionFailure.reaction, func.count()).group_by(
                        ReactionFailure.reaction
                    )
                )
            ).all()
        )
        for name, (cursor, types) in reactions.items():
            checkpoint = max(cursor, stored.get(name, 0))
            waiting = await session.scalar(
                select(func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.id > checkpoint, EVENTS.c.type.in_(types))
            )
            found.append(
                ReactionStatus(
                    name=name,
                    event_types=sorted(types),
                    checkpoint=checkpoint,
                    waiting=int(waiting or 0),
                    failures=int(failures.get(name, 0)),
                )
            )
    return found
