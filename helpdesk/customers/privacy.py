"""Export, erasure and retention as the running helpdesk does them: each in its own
transaction, then the files an earlier version kept on disk removed and, on SQLite, the
write-ahead log emptied, so that erased words survive in no file (docs/customers.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.customers import export
from helpdesk.customers.content_erasure import (
    ChannelEraser,
    ContentScope,
    erase_content,
    message_ids_of,
)
from helpdesk.customers.erasure import Erased, erase_customer
from helpdesk.customers.settings import CustomersSettings
from helpdesk.storage.attachments import (
    AttachmentBlob,
    AttachmentMissing,
    AttachmentStore,
    legacy_path,
)
from helpdesk.storage.database import Database
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType, Ticket, TicketStatus

log = logging.getLogger(__name__)


class Privacy:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        attachments: AttachmentStore,
        settings: CustomersSettings,
        erasers: Sequence[ChannelEraser] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self._attachments = attachments
        self._settings = settings
        self._erasers = tuple(erasers)
        self._retention = BackgroundTask("customer-retention", self._run_retention)

    async def export(self, customer_id: int, *, actor_id: int | None) -> bytes:
        """The ZIP file of everything stored about the customer; the export is audited.
        Raises export.CustomerNotFound."""
        async with self._db.read() as session:
            document = await export.collect(session, customer_id)
        data = await export.build_zip(document, self._read_files)
        async with self._db.transaction() as session:
            export.record_export(session, customer_id, now=self._clock.now(), actor_id=actor_id)
        return data

    async def _read_files(self, digests: list[str]) -> dict[str, bytes]:
        async with self._db.read() as session:
            rows = await session.execute(
                select(AttachmentBlob.sha256, AttachmentBlob.data).where(
                    AttachmentBlob.sha256.in_(digests)
                )
            )
            found = {digest: data for digest, data in rows}
        for digest in set(digests) - set(found):
            # A file an earlier version kept on disk (`AttachmentStore` copies it in).
            with contextlib.suppress(AttachmentMissing):
                found[digest] = await self._attachments.get(digest)
        return found

    async def erase(self, customer_id: int, *, actor_id: int | None) -> Erased:
        """Raises erasure.CustomerNotFound."""
        async with self._db.transaction() as session:
            erased = await erase_customer(
                session,
                customer_id,
                now=self._clock.now(),
                actor_id=actor_id,
                erasers=self._erasers,
            )
        await self._leave_no_trace(erased.removed_digests)
        return erased

    async def retention_round(self) -> int:
        """Erase the content of one batch of tickets closed longer than the retention;
        returns how many (0: none left, or retention is off)."""
        days = self._settings.retention_days
        if days is None:
            return 0
        now = self._clock.now()
        before = now - timedelta(days=days)
        async with self._db.transaction() as session:
            ticket_ids = list(
                await session.scalars(
                    select(Ticket.id)
                    .where(
                        Ticket.status == TicketStatus.CLOSED,
                        Ticket.closed_at < before,
                        Ticket.content_erased_at.is_(None),
                    )
                    .order_by(Ticket.id)
                    .limit(self._settings.retention_batch)
                )
            )
            if not ticket_ids:
                return 0
            scope = ContentScope(ticket_ids, await message_ids_of(session, ticket_ids), now)
            await erase_content(session, scope, self._erasers)
            for ticket_id in ticket_ids:
                audit.automatic(
                    session,
                    AuthorType.SYSTEM,
                    at=now,
                    ticket_id=ticket_id,
                    action="ticket.content_erased",
                    reason=f"closed more than {days} days ago (customers.retention_days)",
                )
        await self._leave_no_trace(scope.removed_digests)
        return len(ticket_ids)

    async def retention(self) -> int:
        """Rounds until no ticket is left to erase; returns how many were."""
        total = 0
        while count := await self.retention_round():
            total += count
        return total

    def start(self) -> None:
        if self._settings.retention_days is not None:
            self._retention.start()

    async def stop(self) -> None:
        await self._retention.stop()

    async def _run_retention(self) -> None:
        while True:
            try:
                await self.retention()
            except Exception:
                log.warning("retention round failed; trying again later", exc_info=True)
            await asyncio.sleep(self._settings.retention_interval_seconds)

    async def _leave_no_trace(self, digests: frozenset[str] | set[str]) -> None:
        root = self._attachments.legacy_root
        if root is not None:
            for digest in digests:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(legacy_path(root, digest).unlink)
        if self._db.is_sqlite:
            # Earlier pages with the erased words may still sit in the write-ahead log.
            try:
                async with self._db.engine.connect() as connection:
                    await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception:
                log.warning("could not empty the write-ahead log after an erasure", exc_info=True)
