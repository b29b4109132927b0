"""LISTEN on a PostgreSQL channel for as long as the process runs, reconnecting when lost.

Notifications are hints to look at the database now; whoever listens also polls, so one missed
while reconnecting only delays the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

from helpdesk.common.background import BackgroundTask

log = logging.getLogger(__name__)


def driver_dsn(database_url: str) -> str:
    """The helpdesk's database URL as asyncpg itself takes it (without SQLAlchemy's driver)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class PostgresListener:
    def __init__(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = driver_dsn(database_url)
        self._channel = channel
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._task = BackgroundTask(f"listen:{channel}", self._listen)
        self.listening = asyncio.Event()

    async def start(self, *, wait_seconds: float = 10.0) -> None:
        self._task.start()
        # What is notified before the listener is up would be noticed only by polling.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), wait_seconds)

    async def stop(self) -> None:
        await self._task.stop()

    async def _listen(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._listen_until_lost()
                delay = 1.0
                log.warning("LISTEN %s lost its connection; reconnecting", self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot LISTEN %s (%s); retrying in %.0f s", self._channel, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(self._channel, self._notified)
            self.listening.set()
            if self._on_connect is not None:
                # Anything committed while we were away was not notified to us.
                self._on_connect()
            await lost.wait()
        finally:
            self.listening.clear()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        # asyncpg hands over the payload as text; its stubs leave the type open.
        self._on_notify(str(payload))
