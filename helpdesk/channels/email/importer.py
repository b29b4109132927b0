"""Importing fetched mail: parse, thread, store and checkpoint in one transaction.

The transaction is intake's (`IntakeService.unit`): the checkpoint (UIDVALIDITY and last UID),
the threading references and the quarantine are committed with the messages, so a crash anywhere
either keeps all or nothing, and the caller marks the mail on the server only after this returns.
What the messages mean for their tickets (no answer to machines, an acknowledgement to people)
is the core's decision (`helpdesk.conversation`); the importer only says which mail is automatic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email import participants
from helpdesk.channels.email.complaints import complaint_payload
from helpdesk.channels.email.limits import plausible_date, unused_date_header
from helpdesk.channels.email.models import (
    EmailCheckpoint,
    EmailOriginalDate,
    EmailParticipant,
    EmailQuarantine,
    EmailReference,
    ParticipantRole,
)
from helpdesk.channels.email.parse import ParsedMail, parse_many
from helpdesk.channels.email.settings import EmailSettings
from helpdesk.channels.email.threads import MessageIds, SubjectTag, external_id, reference_key
from helpdesk.delivery import state as delivery_state
from helpdesk.intake.batch import Receipt
from helpdesk.intake.service import IntakeService, IntakeUnit
from helpdesk.intake.ticket_choice import pairs_in
from helpdesk.messages import InboundMessage
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.base import table_of
from helpdesk.tickets.models import Message

log = logging.getLogger(__name__)
CHANNEL = "email"


@dataclass(frozen=True, slots=True)
class RawMail:
    uid: int | None
    data: bytes


@dataclass(slots=True)
class _Item:
    raw: RawMail
    parsed: ParsedMail | None = None
    reason: str | None = None
    hashes: tuple[str, ...] = ()
    receipt: Receipt | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch parsed and with its files stored, ready for its transaction."""

    items: list[_Item]

    @property
    def uids(self) -> list[int]:
        return [item.raw.uid for item in self.items if item.raw.uid is not None]


@dataclass(slots=True)
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    # Per mail, in order: the stored message's id (None when quarantined or a bounce).
    message_ids: list[int | None] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)

    def add(self, part: ImportResult) -> None:
        self.imported += part.imported
        self.duplicates += part.duplicates
        self.quarantined += part.quarantined
        self.message_ids += part.message_ids
        self.reasons += part.reasons


class MailImporter:
    def __init__(
        self,
        intake: IntakeService,
        attachments: AttachmentStore,
        settings: EmailSettings,
        ids: MessageIds,
    ) -> None:
        self._intake = intake
        self._attachments = attachments
        self._settings = settings
        self._ids = ids
        self._tag = SubjectTag(settings.subject_tag)
        self._own = {settings.from_address.lower()} | {
            m.user.lower() for m in settings.mailboxes if "@" in m.user
        }
        self._boxes = {m.name: m for m in settings.mailboxes}

    async def import_batch(
        self,
        mailbox: str,
        mails: Sequence[RawMail],
        *,
        uidvalidity: int | None = None,
        force_size: bool = False,
    ) -> ImportResult:
        """Store every mail once (or quarantine it) and, given a UIDVALIDITY, move the
        mailbox's checkpoint to the highest UID, all in one transaction."""
        prepared = await self.prepare(mails, force_size=force_size)
        return await self.store(mailbox, prepared, uidvalidity=uidvalidity)

    async def prepare(self, mails: Sequence[RawMail], *, force_size: bool = False) -> Prepared:
        """Parse, and put attachments (or a quarantined message's bytes) in the store: all the
        work that needs no transaction, so a mailbox can do it for its next batch meanwhile."""
        items = await self._parse_all(mails, force_size)
        files = [_files_of(item) for item in items]
        # One write for the whole batch: each is a turn at SQLite's single writer.
        hashes = iter(await self._attachments.put_many([data for f in files for data in f]))
        for item, its_files in zip(items, files, strict=True):
            item.hashes = tuple(next(hashes) for _ in its_files)
        return Prepared(items)

    async def store(
        self, mailbox: str, prepared: Prepared, *, uidvalidity: int | None = None
    ) -> ImportResult:
        result = ImportResult()
        async with self._intake.unit() as unit:
            await self._store(unit, mailbox, prepared.items, result)
            if uidvalidity is not None:
                uids = [item.raw.uid for item in prepared.items if item.raw.uid is not None]
                last_uid = max(uids, default=0)
                await _checkpoint(unit.session, mailbox, uidvalidity, last_uid, unit.now)
        return result

    async def store_each(
        self, mailbox: str, prepared: Prepared, *, uidvalidity: int | None = None
    ) -> ImportResult:
        """After a batch failed to commit: each mail in its own transaction. One that still
        fails after `store_attempts` tries (waits that double) is quarantined with the error,
        so it never holds back the mail after it. If even that fails, the database itself is
        the trouble, and the caller's reconnect backoff takes over."""
        result = ImportResult()
        attempts, wait = self._settings.store_attempts, self._settings.store_retry_seconds
        for item in prepared.items:
            error: Exception | None = None
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(wait * 2 ** (attempt - 1))
                item.receipt = None
                try:
                    result.add(await self.store(mailbox, Prepared([item]), uidvalidity=uidvalidity))
                    error = None
                    break
                except Exception as exc:
                    error = exc
            if error is None:
                continue
            log.error("mailbox %s: a mail could not be stored", mailbox, exc_info=error)
            item.parsed, item.receipt = None, None
            item.reason = (
                f"could not be stored ({attempts} tries): {type(error).__name__}: {error}"
            )[:2000]
            item.hashes = (await self._attachments.put(item.raw.data),)
            result.add(await self.store(mailbox, Prepared([item]), uidvalidity=uidvalidity))
        return result

    async def _parse_all(self, mails: Sequence[RawMail], force_size: bool) -> list[_Item]:
        limit = None if force_size else self._settings.max_message_bytes
        outcomes = await asyncio.to_thread(parse_many, [mail.data for mail in mails], limit)
        return [
            _Item(mail, parsed=parsed, reason=reason)
            for mail, (parsed, reason) in zip(mails, outcomes, strict=True)
        ]

    async def _store(
        self, unit: IntakeUnit, mailbox: str, items: list[_Item], result: ImportResult
    ) -> None:
        session, now = unit.session, unit.now
        wave: list[_Item] = []
        wave_ids: set[str] = set()
        box = self._boxes.get(mailbox)
        for item in items:
            if item.parsed is None:
                continue
            item.parsed = parsed = participants.as_customer(item.parsed, box)
            if parsed.bounce is not None and await self._record_bounce(session, item, now):
                continue
            # A reply to a message earlier in this batch must see that one stored first.
            if any(reference_key(r) in wave_ids for r in parsed.references):
                await self._store_wave(unit, mailbox, wave)
                wave, wave_ids = [], set()
            wave.append(item)
            if parsed.message_id:
                wave_ids.add(reference_key(parsed.message_id))
        await self._store_wave(unit, mailbox, wave)
        for item in items:
            if item.reason is not None:
                await self._quarantine(session, mailbox, item, now)
                result.quarantined += 1
            elif item.receipt is not None:
                result.duplicates += item.receipt.duplicate
                result.imported += not item.receipt.duplicate
            result.message_ids.append(item.receipt.message_id if item.receipt else None)
            result.reasons.append(item.reason)

    async def _store_wave(self, unit: IntakeUnit, mailbox: str, wave: list[_Item]) -> None:
        if not wave:
            return
        hints = await self._hints(unit.session, [item.parsed for item in wave if item.parsed])
        inbound = []
        for item in wave:
            parsed = item.parsed
            assert parsed is not None
            hint, verified = hints.get(id(parsed), (None, False))
            inbound.append(
                InboundMessage(
                    channel=CHANNEL,
                    external_id=external_id(mailbox, parsed.message_id, item.raw.data),
                    sender=parsed.sender,
                    sender_name=parsed.sender_name,
                    text=parsed.text or "(no text)",
                    html=parsed.html,
                    subject=parsed.subject or None,
                    attachments=parsed.attachments,
                    sent_at=plausible_date(parsed.sent_at, unit.now),
                    continues_latest=False,
                    ticket_hint=hint,
                    hint_verified=verified,
                    automatic=parsed.automatic,
                    entry_point=mailbox,
                    payload=complaint_payload(parsed.subject, self._settings.complaint_keywords),
                )
            )
        receipts = await unit.receive(inbound, [item.hashes for item in wave])
        fresh: list[tuple[_Item, Receipt]] = []
        for item, receipt in zip(wave, receipts, strict=True):
            item.receipt = receipt
            if not receipt.duplicate:
                fresh.append((item, receipt))
        await self._remember(unit.session, fresh, unit.now)

    async def _hints(
        self, session: AsyncSession, mails: list[ParsedMail]
    ) -> dict[int, tuple[int, bool]]:
        """Per mail: the ticket it continues, and whether that is proven (references or a
        participant) rather than only claimed by a subject the intake checks against the
        sender."""
        keys = {reference_key(r) for m in mails for r in m.references}
        ours = {r: self._ids.ours(r) for m in mails for r in m.references}
        by_reference: dict[str, int] = {}
        if keys:
            rows = await session.execute(
                select(EmailReference.rfc_message_id, EmailReference.ticket_id).where(
                    EmailReference.rfc_message_id.in_(keys)
                )
            )
            by_reference = {row.rfc_message_id: row.ticket_id for row in rows}
        our_message_ids = {o.message_id for o in ours.values() if o is not None}
        # Where each of our messages is now: a merge or a split may have moved it.
        existing: dict[int, int] = {}
        if our_message_ids:
            rows = await session.execute(
                select(Message.id, Message.ticket_id).where(Message.id.in_(our_message_ids))
            )
            existing = {row.id: row.ticket_id for row in rows}
        numbered = {id(m): self._tag.find(m.subject) for m in mails}
        wanted = {(n, m.sender) for m in mails if (n := numbered[id(m)]) is not None}
        participants: set[tuple[int, str]] = set()
        if wanted:
            rows = await session.execute(
                select(EmailParticipant.ticket_id, EmailParticipant.address).where(
                    pairs_in(EmailParticipant.ticket_id, EmailParticipant.address, wanted),
                    EmailParticipant.role == ParticipantRole.COPIED,
                )
            )
            participants = {(row.ticket_id, row.address) for row in rows}
        hints: dict[int, tuple[int, bool]] = {}
        for mail in mails:
            for reference in mail.references:
                own = ours.get(reference)
                if own is not None and own.message_id in existing:
                    hints[id(mail)] = (existing[own.message_id], True)
                    break
                if reference_key(reference) in by_reference:
                    hints[id(mail)] = (by_reference[reference_key(reference)], True)
                    break
            else:
                number = numbered[id(mail)]
                if number is not None:
                    hints[id(mail)] = (number, (number, mail.sender) in participants)
        return hints

    async def _remember(
        self, session: AsyncSession, fresh: list[tuple[_Item, Receipt]], now: datetime
    ) -> None:
        """Message-IDs for threading, and CC'd people as participants of the ticket."""
        references = [
            {
                "rfc_message_id": reference_key(item.parsed.message_id),
                "ticket_id": receipt.ticket_id,
                "message_id": receipt.message_id,
            }
            for item, receipt in fresh
            if item.parsed is not None and item.parsed.message_id
        ]
        if references:
            await session.execute(table_of(EmailReference).insert(), references)
        dates = [
            {"message_id": receipt.message_id, "header": header}
            for item, receipt in fresh
            if item.parsed is not None
            and (header := unused_date_header(item.parsed.date_header, item.parsed.sent_at, now))
        ]
        if dates:
            await session.execute(table_of(EmailOriginalDate).insert(), dates)
        await participants.record(
            session,
            [(item.parsed, receipt) for item, receipt in fresh if item.parsed is not None],
            own=self._own,
            limit=self._settings.reply_participants_max,
            now=now,
        )

    async def _record_bounce(self, session: AsyncSession, item: _Item, now: datetime) -> bool:
        """Mark the outbound message a bounce names as failed; False if it names none of ours."""
        assert item.parsed is not None and item.parsed.bounce is not None
        original = item.parsed.bounce.original_message_id
        own = self._ids.ours(original) if original else None
        if own is None:
            return False
        return await delivery_state.record_bounce(
            session, own.message_id, own.ticket_id, item.parsed.bounce.status, now=now
        )

    async def _quarantine(
        self, session: AsyncSession, mailbox: str, item: _Item, now: datetime
    ) -> None:
        digest = item.hashes[0]
        known = await session.scalar(
            select(EmailQuarantine.id).where(
                EmailQuarantine.mailbox == mailbox, EmailQuarantine.sha256 == digest
            )
        )
        if known is not None:
            return
        sender, subject = _peek(item.raw.data)
        log.warning("mailbox %s: quarantined a message from %s: %s", mailbox, sender, item.reason)
        session.add(
            EmailQuarantine(
                mailbox=mailbox,
                reason=item.reason or "unknown",
                sha256=digest,
                size=len(item.raw.data),
                sender=sender[:320],
                subject=subject[:200],
                created_at=now,
            )
        )


def _files_of(item: _Item) -> list[bytes]:
    """What goes to the attachment store: the attachments, or a quarantined message's bytes."""
    if item.parsed is not None:
        return [a.data for a in item.parsed.attachments]
    return [item.raw.data]


async def _checkpoint(
    session: AsyncSession, mailbox: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    checkpoint = await session.get(EmailCheckpoint, mailbox, with_for_update=True)
    if checkpoint is None:
        session.add(EmailCheckpoint(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
        checkpoint = await session.get(EmailCheckpoint, mailbox)
        assert checkpoint is not None
    elif checkpoint.uidvalidity != uidvalidity:
        checkpoint.uidvalidity, checkpoint.last_uid = uidvalidity, last_uid
    else:
        checkpoint.last_uid = max(checkpoint.last_uid, last_uid)
    checkpoint.last_import_at = now


def _peek(raw: bytes) -> tuple[str, str]:
    """Sender and subject for the quarantine list, read as leniently as possible."""
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    sender = subject = ""
    for line in head.decode("utf-8", "replace").splitlines():
        lower = line.lower()
        if lower.startswith("from:") and not sender:
            sender = line[5:].strip()
        elif lower.startswith("subject:") and not subject:
            subject = line[8:].strip()
    return sender, subject
