"""Restarts, crashes and a renumbered mailbox: every message imported exactly once, and marked
on the server only after it was committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk.channels.email.models import EmailCheckpoint
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import seed_staff
from tests.email_helpers import (
    IMAP_PASSWORD,
    email_env,
    email_runtime,
    email_settings,
    eventually,
    message_count,
)
from tests.support.dovecot import DovecotServer, ImapClient, Mailbox, mail
from tests.support.server import HelpdeskServer

PRELOADED = 300


async def append_numbered(dovecot: Mailbox, numbers: range) -> None:
    async with ImapClient(dovecot) as imap:
        for n in numbers:
            await imap.append(
                mail(
                    f"customer{n % 50}@example.org",
                    f"question {n}",
                    f"text {n}",
                    message_id=f"<q{n}@example.org>",
                )
            )


async def stored_counts(db: Database) -> tuple[int, int, int]:
    """Messages, distinct external ids and tickets, as an agent's queue would show them."""
    async with db.read() as session:
        messages = await session.scalar(select(func.count()).select_from(Message)) or 0
        distinct = await session.scalar(select(func.count(func.distinct(Message.external_id)))) or 0
        tickets = await session.scalar(select(func.count()).select_from(Ticket)) or 0
    return messages, distinct, tickets


@pytest.mark.kills_processes
async def test_sigkill_mid_import_imports_every_message_once(
    database_url: str, tmp_path: Path, dovecot: Mailbox
):
    await seed_staff(database_url)
    await append_numbered(dovecot, range(PRELOADED))
    env = email_env(dovecot, None, mailbox={"fetch_batch": 40}, auto_ack=False)
    first = HelpdeskServer(tmp_path / "server", database_url, **env).start()
    db = Database(database_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            messages, _, _ = await stored_counts(db)
            if messages > 0:
                break
            await asyncio.sleep(0.01)
        first.kill()
        killed_at, _, _ = await stored_counts(db)
        assert 0 < killed_at < PRELOADED, "the kill should land mid-import"

        again = HelpdeskServer(tmp_path / "server", database_url, port=first.port, **env).start()
        try:

            async def all_in() -> bool:
                return (await stored_counts(db))[0] >= PRELOADED

            await eventually(all_in, timeout=120)
            await asyncio.sleep(1.0)
            assert await stored_counts(db) == (PRELOADED, PRELOADED, PRELOADED)
            async with ImapClient(dovecot) as imap:

                async def all_seen() -> bool:
                    return await imap.count(criteria="UNSEEN") == 0

                await eventually(all_seen)
        finally:
            again.stop()
    finally:
        await db.dispose()


@pytest.fixture
def own_dovecot() -> Iterator[Mailbox]:
    """A Dovecot of this test's own, as it stops the server and renumbers its folders."""
    server = DovecotServer(IMAP_PASSWORD, accounts=1).start()
    yield server.mailbox()
    server.stop()


async def test_restart_and_renumbered_mailbox_import_nothing_twice(
    database_url: str, tmp_path: Path, own_dovecot: Mailbox
):
    dovecot = own_dovecot
    settings = email_settings(dovecot, None, auto_ack=False, mailbox={"after_import": "move"})
    await append_numbered(dovecot, range(5))
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        await eventually(lambda: _at_least(runtime, 5))
        async with runtime.db.read() as session:
            before = await session.get(EmailCheckpoint, "support")
        assert before is not None and before.last_uid == 5
    # While the helpdesk is down: more mail, and the server renumbers the folder, with the
    # first message moved back as if someone had dragged it there again.
    await append_numbered(dovecot, range(5, 8))
    async with ImapClient(dovecot) as imap:
        assert await imap.count("Imported") == 5
        assert imap.imap is not None
        await imap.imap.select("Imported")
        await imap.imap.uid("move", "1", "INBOX")
    dovecot.server.halt()
    await asyncio.sleep(1.1)  # Dovecot's UIDVALIDITY is a time in seconds
    dovecot.server.renumber(dovecot.user)
    dovecot.server.resume()
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        await eventually(lambda: _at_least(runtime, 8))
        async with runtime.db.read() as session:
            after = await session.get(EmailCheckpoint, "support")
        assert after is not None and after.uidvalidity != before.uidvalidity
        async with ImapClient(dovecot) as imap:

            async def inbox_empty() -> bool:
                return await imap.count() == 0

            await eventually(inbox_empty)
            # 4 left there, 3 new, and the moved-back one (a duplicate, moved all the same)
            assert await imap.count("Imported") == 8
        await asyncio.sleep(0.5)
        assert await stored_counts(runtime.db) == (8, 8, 8)


async def _at_least(runtime, count: int) -> bool:
    return await message_count(runtime) >= count
