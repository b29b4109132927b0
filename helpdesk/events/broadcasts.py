"""Broadcasts: every process hands new events to its own in-memory state (the suggestion index,
the outbox worker's wake-up). They start at the end of the log and keep no checkpoint: a process
that starts builds that state afresh anyway. A failing broadcast is logged and passed over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from helpdesk.common.background import wait_for_event
from helpdesk.events import round_statements as statements
from helpdesk.events.reactions import Broadcast
from helpdesk.events.types import Event
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import latest_id

log = logging.getLogger(__name__)


class Broadcaster:
    def __init__(
        self,
        db: Database,
        handlers: dict[type[Event], list[Broadcast]],
        *,
        batch_size: int,
        poll_seconds: float,
        round_interval_seconds: float = 0.0,
    ) -> None:
        self._db = db
        self._handlers = {event_type.__name__: h for event_type, h in handlers.items() if h}
        self._types = {event_type.__name__: event_type for event_type in handlers}
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._round_interval = round_interval_seconds
        self._wake = asyncio.Event()
        # The last event this process has broadcast (or passed over as of no interest).
        self.cursor = 0

    @property
    def active(self) -> bool:
        return bool(self._handlers)

    def wake(self, types: Iterable[str] | None = None) -> None:
        if types is None or not self._handlers.keys().isdisjoint(types):
            self._wake.set()

    async def run(self) -> None:
        if not self._handlers:
            return
        loop = asyncio.get_running_loop()
        started = -self._round_interval
        while True:
            await wait_for_event(self._wake, self._poll_seconds)
            # As the reactions' rounds (`dispatcher.py`): under load one read carries every
            # event committed during the pause; after a quiet spell the first goes at once.
            pause = self._round_interval - (loop.time() - started)
            if pause > 0:
                await asyncio.sleep(pause)
            self._wake.clear()
            started = loop.time()
            try:
                await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the event log for broadcasts failed; trying again")

    async def _catch_up(self) -> None:
        while True:
            # Autocommit reads: every event up to `upper` is committed (`event_log`), so the
            # two statements need not share a snapshot, and BEGIN and ROLLBACK are saved.
            async with self._db.lookup() as session:
                connection = await session.connection()
                upper = await latest_id(connection)
                rows = (
                    await connection.execute(
                        statements.events_between(tuple(self._handlers), bounded=True),
                        {"start": self.cursor, "upper": upper, "limit": self._batch_size},
                    )
                ).all()
            for row in rows:
                event = self._types[row.type](**row.payload)
                for broadcast in self._handlers[row.type]:
                    try:
                        await broadcast.handle(event)
                    except Exception:
                        log.exception("broadcast %s failed on event %d", broadcast.name, row.id)
                self.cursor = row.id
            if len(rows) < self._batch_size:
                self.cursor = max(self.cursor, upper)
                return
