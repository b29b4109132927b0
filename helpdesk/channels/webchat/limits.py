"""Per-address limits on the chat's entry points: new chat sessions (each may become a customer
and a ticket) and open sockets. One client address must not be able to fill the database or
the process with chats; these counts live in the process (a restart forgets them)."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

from helpdesk.channels.webchat.settings import WebchatSettings

# Beyond this many addresses tracked, the idle ones are forgotten.
MAX_TRACKED = 50_000


class RecentCounter:
    """How many times each key was counted in the last `window` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._window = window
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def take(self, key: str) -> float:
        """Count one; 0 if within the limit, else the seconds until one is allowed again."""
        now = self._clock()
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self._window - now
        times.append(now)
        if len(self._times) > MAX_TRACKED:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, t in self._times.items() if not t or t[-1] <= now - self._window]:
            del self._times[key]


class ChatLimits:
    """New sessions per address per window, and open sockets per address."""

    def __init__(self, settings: WebchatSettings) -> None:
        self.sessions = RecentCounter(
            settings.sessions_per_address, settings.sessions_window_seconds
        )
        self._max_sockets = settings.sockets_per_address
        self._sockets: Counter[str] = Counter()

    def open_socket(self, address: str) -> bool:
        if self._max_sockets and self._sockets[address] >= self._max_sockets:
            return False
        self._sockets[address] += 1
        return True

    def close_socket(self, address: str) -> None:
        self._sockets[address] -= 1
        if self._sockets[address] <= 0:
            del self._sockets[address]
