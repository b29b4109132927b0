"""SQLite's write-ahead log is copied back by the background checkpointer, not by commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpdesk.channels.base import InboundMessage
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime
from helpdesk.wal_checkpoints import checkpoint

SECRET = "test-secret-key-that-is-long-enough-0123456789"


async def test_the_log_is_checkpointed_in_the_background_and_stays_small(tmp_path: Path):
    settings = load_settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        secret_key=SECRET,
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with runtime.db.engine.connect() as connection:
            limit = (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert limit == 10_000  # commits no longer checkpoint at SQLite's 1,000 pages
        messages = [
            InboundMessage("webchat", f"v{n % 50}:{n}", f"v{n % 50}", "x" * 2000)
            for n in range(3000)
        ]
        await asyncio.gather(*(runtime.intake.receive(m) for m in messages))
        await asyncio.sleep(0.5)  # a few of the checkpointer's rounds
        done = await checkpoint(runtime.db)
        # Everything written so far is in the database file; the log has nothing left over.
        assert not done.busy and done.log_pages == done.checkpointed_pages
        wal = tmp_path / "h.db-wal"
        assert wal.stat().st_size < 10_000 * 4096
    finally:
        await runtime.stop()
