"""PostgreSQL session-level advisory locks held for as long as this process can: leases that let
one process of several do a job, and pass to another when that process goes.

A lock lives with its connection: when the process stops, crashes or loses the database, the
server drops it and another process takes it at its next try. All of a process's leases share
one connection. A lease only saves work: what the job does must stay correct if two processes
ever do it at once (a connection the server has already dropped while this process still
believes in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Iterable

import asyncpg

from helpdesk.common.background import BackgroundTask, wait_for_event
from helpdesk.storage.listener import driver_dsn

log = logging.getLogger(__name__)


class AdvisoryLeases:
    def __init__(
        self,
        database_url: str,
        namespace: int,
        names: Iterable[str],
        *,
        retry_seconds: float,
        on_gained: Callable[[str], None],
    ) -> None:
        """One lease per name, keyed (namespace, a checksum of the name)."""
        self._dsn = driver_dsn(database_url)
        self._namespace = namespace
        self._keys = {name: _signed(zlib.crc32(name.encode())) for name in names}
        self._retry_seconds = retry_seconds
        self._on_gained = on_gained
        self._held: set[str] = set()
        self._task = BackgroundTask("leases", self._keep)

    def held(self, name: str) -> bool:
        return name in self._held

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        # Closing the connection (when the task ends) hands the leases on at once.
        await self._task.stop()

    async def _keep(self) -> None:
        while True:
            try:
                await self._hold_until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leases: %s; trying again", exc)
            await asyncio.sleep(self._retry_seconds)

    async def _hold_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            while not lost.is_set():
                for name in self._keys.keys() - self._held:
                    if await connection.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", self._namespace, self._keys[name]
                    ):
                        self._held.add(name)
                        self._on_gained(name)
                if len(self._held) == len(self._keys):
                    await lost.wait()
                else:
                    # Others hold some: ask again later, unless this connection goes first.
                    await wait_for_event(lost, self._retry_seconds)
            if self._held:
                log.warning("leases %s lost with their connection", ", ".join(sorted(self._held)))
        finally:
            self._held.clear()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))


def _signed(checksum: int) -> int:
    """An unsigned 32-bit checksum as the signed int4 PostgreSQL's lock functions take."""
    return checksum - (1 << 32) if checksum >= 1 << 31 else checksum
