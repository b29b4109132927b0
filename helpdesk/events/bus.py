"""In-process event bus: handlers per event type, run after commit, retried when they fail.

A failing handler is logged and retried with backoff; it never touches the transaction that
produced the event, so the stored message is never lost because a reaction failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from helpdesk.events.types import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]
Wanted = Callable[[Any], bool]


class EventBus:
    def __init__(self, *, attempts: int = 5, first_delay: float = 0.2) -> None:
        self._handlers: dict[type[Event], list[tuple[Handler, Wanted | None]]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempts = attempts
        self._first_delay = first_delay

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        wanted: Callable[[E], bool] | None = None,
    ) -> None:
        """`wanted`, when given, is asked synchronously first: an event it declines costs no task,
        which matters for events as frequent as every arriving message."""
        self._handlers[event_type].append((handler, wanted))

    def publish(self, events: Iterable[Event]) -> None:
        """Schedule every handler of every event; returns at once."""
        for event in events:
            for handler, wanted in self._handlers.get(type(event), ()):
                if wanted is not None and not wanted(event):
                    continue
                task = asyncio.create_task(self._run(handler, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run(self, handler: Handler, event: Event) -> None:
        delay = self._first_delay
        name = getattr(handler, "__qualname__", repr(handler))
        for attempt in range(1, self._attempts + 1):
            try:
                await handler(event)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == self._attempts:
                    log.exception(
                        "handler %s gave up on %r after %d attempts", name, event, attempt
                    )
                    return
                log.warning("handler %s failed on %r (attempt %d); retrying", name, event, attempt)
                await asyncio.sleep(delay)
                delay *= 4

    async def drain(self) -> None:
        """Wait until every scheduled handler has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
