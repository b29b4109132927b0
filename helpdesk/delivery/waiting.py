"""Replies waiting for a channel this process cannot send on.

Each process's worker claims only items for the channels it has adapters for, so a reply on a
channel no process has configured stays pending. One process cannot know what the others have;
it can say what waits here unclaimed, in the log and to supervisors (`GET /api/outbox`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.messages import ChannelAdapter
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

# A process that has the channel sends within a poll interval; past this, something is wrong.
REPORT_AFTER = timedelta(minutes=1)
CHECK_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Waiting:
    channel: str
    replies: int
    oldest_queued_at: datetime


async def waiting_elsewhere(db: Database, sendable: Collection[str]) -> list[Waiting]:
    """Unfinished deliveries on channels outside `sendable`, per channel."""
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxItem.channel, func.count(), func.min(OutboxItem.created_at))
            .where(
                OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                OutboxItem.channel.not_in(list(sendable)),
            )
            .group_by(OutboxItem.channel)
            .order_by(OutboxItem.channel)
        )
        return [Waiting(channel, count, oldest) for channel, count, oldest in rows]


class WaitingWatch:
    """Logs, once a minute, replies that have waited too long for a channel missing here."""

    def __init__(self, db: Database, clock: Clock, adapters: Mapping[str, ChannelAdapter]) -> None:
        self._db = db
        self._clock = clock
        self._adapters = adapters
        self._task = BackgroundTask("outbox-waiting", self._run)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_SECONDS)
            try:
                await self.report()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not count the replies waiting for other channels")

    async def report(self) -> list[Waiting]:
        """Log and return the channels whose oldest waiting reply is past REPORT_AFTER."""
        sendable = sorted(self._adapters)
        now = self._clock.now()
        late = [
            w
            for w in await waiting_elsewhere(self._db, sendable)
            if now - w.oldest_queued_at >= REPORT_AFTER
        ]
        for waiting in late:
            log.warning(
                "%d repl%s on the %s channel waiting since %s, unsent by any process on this "
                "database; this one sends on %s only. Is a process with the %s channel running?",
                waiting.replies,
                "y" if waiting.replies == 1 else "ies",
                waiting.channel,
                waiting.oldest_queued_at.isoformat(timespec="seconds"),
                ", ".join(sendable),
                waiting.channel,
            )
        return late
