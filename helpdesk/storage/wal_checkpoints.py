"""SQLite: the write-ahead log is copied back into the database by a background task.

By default SQLite checkpoints inside the commit that makes the log pass 1,000 pages, so now and
then one commit also copies megabytes; under load that commit set intake's p99 (45 ms against
22 ms without it, docs/benchmarks.md). Here a checkpoint runs five times a second (small copies
disturb a commit least) on a connection of its own, in its own thread, beside the writers
(PASSIVE never blocks them). Writers still checkpoint by themselves once the log passes
`db.WAL_SAFETY_NET_PAGES` (about 40 MB), should this task fall behind or not run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from helpdesk.common.background import BackgroundTask
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.2


class Checkpoint(NamedTuple):
    busy: bool
    log_pages: int
    checkpointed_pages: int


async def checkpoint(db: Database) -> Checkpoint:
    """One PASSIVE checkpoint: copies what no reader still needs, waits for nobody."""
    async with db.engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        # As a plain tuple: SQLAlchemy types a raw SQL row as having one column.
        busy, log_pages, checkpointed = tuple(result.one())
    return Checkpoint(bool(busy), log_pages, checkpointed)


class WalCheckpointer:
    def __init__(self, db: Database, interval: float = INTERVAL_SECONDS) -> None:
        self._db = db
        self._interval = interval
        self._task = BackgroundTask("wal-checkpoints", self._run)

    def start(self) -> None:
        if self._db.is_sqlite:
            self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await checkpoint(self._db)
            except Exception:
                # The writers' own checkpoints still bound the log; try again next time.
                log.warning("WAL checkpoint failed", exc_info=True)
