"""Getting a frame to a chat visitor's sockets, wherever they are connected.

One process: straight to the local hub. Several processes on PostgreSQL: every push is a
`NOTIFY`, and each process's listener hands it to the sockets it holds, so a reply delivered by
one process reaches a customer connected to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from helpdesk.common.background import BackgroundTask
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "helpdesk_chat"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; bigger frames go by reference.
PAYLOAD_LIMIT = 7000


class Pusher(Protocol):
    async def push(self, visitor: str, frame: dict[str, Any]) -> int: ...


# Loads a frame by reference (a long reply) when it was too big to travel in the payload.
FrameLoader = Callable[[int], Awaitable[dict[str, Any] | None]]


class ChatFanout(Protocol):
    async def publish(self, visitor: str, frame: dict[str, Any]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LocalFanout:
    def __init__(self, hub: Pusher) -> None:
        self._hub = hub

    async def publish(self, visitor: str, frame: dict[str, Any]) -> None:
        await self._hub.push(visitor, frame)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PostgresFanout:
    def __init__(self, hub: Pusher, db: Database, load_frame: FrameLoader) -> None:
        self._hub = hub
        self._db = db
        self._load_frame = load_frame
        url = make_url(db.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._listener = BackgroundTask("chat-fanout", self._listen)
        self._listening = asyncio.Event()
        self._pushes: set[asyncio.Task[None]] = set()

    async def publish(self, visitor: str, frame: dict[str, Any]) -> None:
        payload = json.dumps({"v": visitor, "f": frame}, ensure_ascii=False)
        if len(payload.encode()) > PAYLOAD_LIMIT:
            payload = json.dumps({"v": visitor, "m": frame["id"]})
        async with self._db.engine.begin() as connection:
            await connection.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": payload},
            )

    async def start(self) -> None:
        self._listener.start()
        # Pushes published before the listener is up would be missed; wait briefly for it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        await self._listener.stop()
        for task in list(self._pushes):
            task.cancel()

    async def _listen(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._listen_until_lost()
                delay = 1.0
                log.warning("chat fan-out lost its database connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("chat fan-out cannot listen (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
            self._listening.set()
            await lost.wait()
        finally:
            self._listening.clear()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        # asyncpg hands over the payload as text; its stubs leave the type open.
        task = asyncio.create_task(self._deliver(str(payload)))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _deliver(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            frame = note.get("f") or await self._load_frame(int(note["m"]))
            if frame is not None:
                await self._hub.push(str(note["v"]), frame)
        except Exception:
            log.exception("chat fan-out could not deliver a notification")
