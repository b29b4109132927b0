"""Getting a frame to a chat visitor's sockets, wherever they are connected.

One process: straight to the local hub. Several processes on PostgreSQL: every push is a
`NOTIFY`, and each process's listener hands it to the sockets it holds, so a reply delivered by
one process reaches a customer connected to another.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import text

from helpdesk.storage.database import Database
from helpdesk.storage.listener import PostgresListener

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
        self._listener = PostgresListener(db.url, NOTIFY_CHANNEL, self._on_notify)
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
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()
        for task in list(self._pushes):
            task.cancel()

    def _on_notify(self, payload: str) -> None:
        task = asyncio.create_task(self._deliver(payload))
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
