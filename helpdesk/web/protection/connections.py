"""uvicorn's HTTP and websocket protocols with two guards uvicorn lacks: a deadline for the
request head, and a cap on open connections per client address and in all.

uvicorn times out only idle keep-alive connections between requests; a client that sends part of
a head and stops holds its connection (a file) for ever, and a thousand such clients exhaust the
process's files. Here a head must be complete within `header_timeout` of its first byte (or of
the connection's opening), and a connection beyond the caps is answered at once and closed.
The websocket protocol that takes over an upgraded connection gives its slot back when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)


class ConnectionGuard:
    """Open connections per client address and in all; a cap of 0 is no cap."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    def admit(self, address: str) -> str | None:
        """Count the connection in, or say why not (and leave it uncounted)."""
        if self.total and self._count >= self.total:
            return "503 the server is at its connection limit; try again shortly"
        if self.per_address and self._open[address] >= self.per_address:
            return "429 too many open connections from your address"
        self._open[address] += 1
        self._count += 1
        return None

    def release(self, address: str) -> None:
        self._count -= 1
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def open_from(self, address: str) -> int:
        return self._open.get(address, 0)


class _RefusalLog:
    """One log line per address per minute, with a count: a flood of refusals must not turn
    into a flood of log writes."""

    def __init__(self, every: float = 60.0) -> None:
        self._every = every
        self._since: dict[str, tuple[float, int]] = {}

    def note(self, address: str, reason: str) -> None:
        now = time.monotonic()
        last, suppressed = self._since.get(address, (0.0, 0))
        if now - last < self._every:
            self._since[address] = (last, suppressed + 1)
            return
        more = f" (and {suppressed} more in the last minute)" if suppressed else ""
        log.warning("refused a connection from %s: %s%s", address, reason, more)
        if len(self._since) > 10_000:
            self._since.clear()
        self._since[address] = (now, 0)


_refusals = _RefusalLog()


def _refusal(status_and_reason: str) -> bytes:
    status, _, reason = status_and_reason.partition(" ")
    body = (reason + "\n").encode()
    phrase = {"408": "Request Timeout", "429": "Too Many Requests"}.get(
        status, "Service Unavailable"
    )
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nretry-after: 5\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HTTP/1.1 (httptools) with a head deadline and the connection caps."""

    guard: ClassVar[ConnectionGuard]
    header_timeout: ClassVar[float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address = ""
        self._admitted = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        refused = self.guard.admit(self._address)
        if refused is not None:
            _refusals.note(self._address, refused[4:])
            self._refuse(refused)
            return
        self._admitted = True
        self._arm_head_timer()

    def _refuse(self, refusal: str) -> None:
        """Answer and half-close; what the client already sent is read and dropped, so the
        answer is not lost to a reset, and the connection is cut after a second at most."""
        self._refused = True
        self.transport.write(_refusal(refusal))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.abort)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._admitted:
            self._admitted = False
            self.guard.release(self._address)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        # The websocket protocol owns the connection (and its slot) from here on.
        self._disarm_head_timer()
        self._admitted = False
        super().handle_websocket_upgrade()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse("408 the request head did not arrive in time")


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """The websocket protocol, giving the upgraded connection's slot back when it ends."""

    guard: ClassVar[ConnectionGuard]

    def connection_lost(self, exc: Exception | None) -> None:
        address = self.client[0] if self.client else ""
        if not getattr(self, "_released", False):
            self._released = True
            self.guard.release(address)
        super().connection_lost(exc)


def guarded_protocols(
    guard: ConnectionGuard, header_timeout: float
) -> tuple[type[GuardedHttpProtocol], type[GuardedWebSocketProtocol]]:
    """Protocol classes for `uvicorn.Config(http=..., ws=...)` bound to one guard."""
    http: type[GuardedHttpProtocol] = type(
        "HttpProtocol", (GuardedHttpProtocol,), {"guard": guard, "header_timeout": header_timeout}
    )
    ws: type[GuardedWebSocketProtocol] = type(
        "WebSocketProtocol", (GuardedWebSocketProtocol,), {"guard": guard}
    )
    return http, ws
