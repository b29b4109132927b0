"""Retention: with `customers.retention_days` set, the content of tickets closed longer ago
is erased in batches (text, HTML, attachments and their bytes), while the rows reports count
stay; open and recently closed tickets keep theirs. A fixed clock stands in for the days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.messages import InboundAttachment, InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.storage.attachments import AttachmentBlob
from helpdesk.tickets.models import Attachment, AuditEntry, Message, Ticket
from tests.conftest import People, seed_staff
from tests.email_helpers import api_as


@pytest_asyncio.fixture
async def keeper(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Runtime]:
    await seed_staff(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        customers={"retention_days": 30, "retention_batch": 2},
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def _ticket(runtime: Runtime, n: int) -> int:
    receipt = await runtime.intake.receive(
        InboundMessage(
            channel="telegram",
            external_id=f"{1000 + n}:1",
            sender=str(1000 + n),
            text=f"secret words number {n}",
            attachments=(InboundAttachment(f"f{n}.txt", "text/plain", f"file {n}".encode()),),
        )
    )
    return receipt.ticket_id


async def _content(runtime: Runtime, ticket_id: int) -> tuple[list[str], int, str]:
    async with runtime.db.read() as session:
        texts = list(
            await session.scalars(select(Message.text).where(Message.ticket_id == ticket_id))
        )
        files = await session.scalar(
            select(func.count())
            .select_from(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .where(Message.ticket_id == ticket_id)
        )
        subject = await session.scalar(select(Ticket.subject).where(Ticket.id == ticket_id))
    return texts, files or 0, subject or ""


async def test_closed_tickets_lose_their_content_after_the_retention(
    keeper: Runtime, clock: FixedClock
):
    old = [await _ticket(keeper, n) for n in range(3)]
    still_open = await _ticket(keeper, 3)
    async with api_as(keeper, People().supervisor) as sam:
        for number in old:
            for step in ("resolved", "closed"):
                changed = await sam.patch(f"/api/tickets/{number}", json={"status": step})
                assert changed.status_code == 200, changed.text
    clock.advance(timedelta(days=20))
    recent = await _ticket(keeper, 4)
    async with api_as(keeper, People().supervisor) as sam:
        for step in ("resolved", "closed"):
            changed = await sam.patch(f"/api/tickets/{recent}", json={"status": step})
            assert changed.status_code == 200, changed.text
    async with keeper.db.read() as session:
        messages_before = await session.scalar(select(func.count()).select_from(Message))

    # Twenty days on, nothing is old enough.
    assert await keeper.privacy.retention() == 0
    clock.advance(timedelta(days=11))
    # Thirty-one days after the first three closed: they go, two per round.
    assert await keeper.privacy.retention_round() == 2
    assert await keeper.privacy.retention_round() == 1
    assert await keeper.privacy.retention_round() == 0

    for number in old:
        texts, files, subject = await _content(keeper, number)
        assert texts and set(texts) == {""} and files == 0 and subject == "(erased)"
    for number in (still_open, recent):
        texts, files, subject = await _content(keeper, number)
        assert any("secret words" in t for t in texts) and files == 1
    async with keeper.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == messages_before
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 5
        # The bytes of the erased files went; the kept ones stay.
        assert await session.scalar(select(func.count()).select_from(AttachmentBlob)) == 2
        erased = list(
            await session.scalars(
                select(AuditEntry.ticket_id).where(AuditEntry.action == "ticket.content_erased")
            )
        )
    assert sorted(erased) == sorted(old)
    # A later round finds nothing to do: each ticket is erased once.
    clock.advance(timedelta(days=365))
    assert await keeper.privacy.retention() == 1  # the recent one, now old too
