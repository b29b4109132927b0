"""Quarantined mail: listed for admins, and imported again on request (over the size limit too,
since an admin looked at it)."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.channels.email.importer import MailImporter, RawMail
from helpdesk.channels.email.models import EmailQuarantine
from helpdesk.common.clock import Clock
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database


class QuarantineError(Exception):
    """Not found, already re-imported, or failing again (the message says which)."""


class Quarantine:
    def __init__(
        self, db: Database, clock: Clock, attachments: AttachmentStore, importer: MailImporter
    ) -> None:
        self._db = db
        self._clock = clock
        self._attachments = attachments
        self._importer = importer

    async def entries(self, *, include_reimported: bool = False) -> list[EmailQuarantine]:
        query = select(EmailQuarantine).order_by(EmailQuarantine.id.desc()).limit(500)
        if not include_reimported:
            query = query.where(EmailQuarantine.reimported_at.is_(None))
        async with self._db.read() as session:
            return list((await session.scalars(query)).all())

    async def raw(self, entry_id: int) -> bytes:
        async with self._db.read() as session:
            entry = await session.get(EmailQuarantine, entry_id)
        if entry is None:
            raise QuarantineError(f"no quarantined message {entry_id}")
        return await self._attachments.get(entry.sha256)

    async def reimport(self, entry_id: int) -> int:
        """Import the kept bytes; returns the stored message's id."""
        async with self._db.read() as session:
            entry = await session.get(EmailQuarantine, entry_id)
        if entry is None:
            raise QuarantineError(f"no quarantined message {entry_id}")
        if entry.reimported_at is not None and entry.message_id is not None:
            return entry.message_id
        data = await self._attachments.get(entry.sha256)
        result = await self._importer.import_batch(
            entry.mailbox, [RawMail(None, data)], force_size=True
        )
        message_id = result.message_ids[0]
        if message_id is None:
            reason = result.reasons[0] or "it is a bounce of one of our messages, recorded as such"
            raise QuarantineError(f"still cannot be imported: {reason}")
        async with self._db.transaction() as session:
            stored = await session.get(EmailQuarantine, entry_id)
            if stored is not None:
                stored.reimported_at = self._clock.now()
                stored.message_id = message_id
        return message_id
