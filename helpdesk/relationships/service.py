"""Relationship signals at work: the whole desk scanned on a schedule (key accounts' silence
needs a clock, not an event), and one customer looked at again when a complaint, a low rating
or a reopening happens (a reaction in the event table, in the transaction of its checkpoint)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.events.types import SatisfactionRated, TicketChanged, TicketReopened
from helpdesk.relationships.scan import SignalScan
from helpdesk.relationships.settings import RelationshipSettings
from helpdesk.relationships.tasks import Found, closed_since, put
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Ticket, TicketKind

log = logging.getLogger(__name__)


class RelationshipSignals:
    def __init__(
        self, db: Database, clock: Clock, settings: RelationshipSettings, *, key_tier: str
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.scan = SignalScan(settings, key_tier=key_tier)
        self._loop = BackgroundTask("relationship-signals", self._every_while)

    def start(self) -> None:
        if self._settings.signals:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def scan_all(self) -> list[Found]:
        """Every customer and key account, now; what was found (open tasks are refreshed).
        The reads run outside the write transaction, which on SQLite would hold up every
        writer (intake too) for the whole scan; the write skips what a manager closed
        meanwhile."""
        now = self._clock.now()
        async with self._db.read() as session:
            found = await self.scan.find(session, now=now)
        async with self._db.transaction() as session:
            closed = await closed_since(session, now)
            await put(session, [f for f in found if (f.subject, f.kind) not in closed], now=now)
        return found

    async def _every_while(self) -> None:
        while True:
            try:
                found = await self.scan_all()
                log.info("relationship signals: %d open task(s) found or refreshed", len(found))
            except Exception:
                # A failed scan waits for the next one; the tasks it would add are found then.
                log.exception("relationship signals: the scan failed")
            await asyncio.sleep(self._settings.scan_minutes * 60)

    def wanted(self, event: Any) -> bool:
        """From the event alone: a reopening, a ticket becoming a complaint, a low rating."""
        if isinstance(event, TicketReopened):
            return True
        if isinstance(event, TicketChanged):
            return event.changes.get("kind") == TicketKind.COMPLAINT.value
        if isinstance(event, SatisfactionRated):
            return event.score <= self._settings.low_rating
        return False

    async def on_event(self, session: AsyncSession, event: Any) -> None:
        ticket = await session.get(Ticket, event.ticket_id)
        if ticket is None:
            return
        await self.scan.run(session, now=self._clock.now(), customer_ids=[ticket.customer_id])
