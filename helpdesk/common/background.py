"""A long-running asyncio task that a service starts once and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundTask:
    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        # Cancel again until it ends: Python 3.11's `asyncio.wait_for` (in libraries too) can
        # swallow a cancellation that arrives as the awaited thing completes, and a loop would
        # then run on, holding up the shutdown for ever.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until the event is set or the time is up, whichever comes first. `asyncio.timeout`
    rather than `asyncio.wait_for`, which in Python 3.11 can lose a cancellation."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
