"""SQLite's write-ahead log is copied back by the background checkpointer, not by commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpdesk.config import load_settings
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.storage.database import WAL_SAFETY_NET_PAGES
from helpdesk.storage.wal_checkpoints import checkpoint

SECRET = "test-secret-key-that-is-long-enough-0123456789"


async def test_the_log_reaches_the_database_file_without_a_commit_copying_it(tmp_path: Path):
    database = tmp_path / "h.db"
    settings = load_settings(
        data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{database}", secret_key=SECRET
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with runtime.db.engine.connect() as connection:
            limit = (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert limit == WAL_SAFETY_NET_PAGES  # commits no longer checkpoint at 1,000 pages
        before = database.stat().st_size
        messages = [
            InboundMessage("webchat", f"v{n % 50}:{n}", f"v{n % 50}", "x" * 2000)
            for n in range(500)
        ]
        await asyncio.gather(*(runtime.intake.receive(m) for m in messages))
        # In WAL mode only a checkpoint writes the database file. This burst stays far below
        # the commits' own limit, so the growth is the background checkpointer's work.
        async with asyncio.timeout(5):
            while database.stat().st_size < before + 500 * 2000:
                await asyncio.sleep(0.1)
        # The burst's reactions read the database meanwhile; a reader holding an old snapshot
        # makes a checkpoint "busy" until it is done, so try again until the readers have gone.
        await runtime.events.idle()
        async with asyncio.timeout(5):
            while (done := await checkpoint(runtime.db)).busy:
                await asyncio.sleep(0.05)
        assert done.log_pages == done.checkpointed_pages
    finally:
        await runtime.stop()
