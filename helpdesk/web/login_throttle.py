"""Slows password guessing: after too many failed logins for one account from one address,
further attempts are refused for a while, even with the right password."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_TRACKED = 10_000


class LoginThrottle:
    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}

    def retry_after(self, email: str, address: str) -> float:
        """Seconds until this account may be tried again from this address; 0 if it may now."""
        recent = self._recent((email.strip().lower(), address))
        if len(recent) < self._max_failures:
            return 0.0
        return max(0.0, recent[0] + self._window - self._clock())

    def failed(self, email: str, address: str) -> None:
        key = (email.strip().lower(), address)
        self._recent(key).append(self._clock())
        if len(self._failures) > MAX_TRACKED:
            for stale in [k for k in self._failures if not self._recent(k)]:
                del self._failures[stale]

    def succeeded(self, email: str, address: str) -> None:
        self._failures.pop((email.strip().lower(), address), None)

    def _recent(self, key: tuple[str, str]) -> list[float]:
        cutoff = self._clock() - self._window
        kept = [t for t in self._failures.get(key, ()) if t > cutoff]
        self._failures[key] = kept
        return kept
