"""Security headers on every HTTP answer, pages and API alike.

The Content-Security-Policy allows scripts from the helpdesk's own origin only, never inline
ones, so an injected `<script>` does not run even if escaping were ever missed. The widget runs
on the company's site as a script (a shadow root, no frame), so no page needs to be framed:
framing is refused unless an operator lists sites in `protection.frame_ancestors`. The API
docs page (`helpdesk/web/docs.py`) loads Swagger UI and its start-up script as files from here,
so it needs no exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(public_url: str, frame_ancestors: Iterable[str]) -> str:
    origin = urlsplit(public_url)
    sockets = f"{'wss' if origin.scheme == 'https' else 'ws'}://{origin.netloc}"
    scripts = f"'self' {origin.scheme}://{origin.netloc}"
    ancestors = " ".join(frame_ancestors) or "'none'"
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: https:; "
        f"connect-src 'self' {sockets}; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers to every HTTP response (websockets pass by)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_url: str,
        frame_ancestors: list[str],
        hsts_max_age: int,
    ) -> None:
        self.app = app
        self._public_url = public_url
        self._ancestors = list(frame_ancestors)
        common: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if not self._ancestors:
            common.append((b"x-frame-options", b"DENY"))
        if public_url.startswith("https://") and hsts_max_age:
            common.append((b"strict-transport-security", f"max-age={hsts_max_age}".encode()))
        self._common = common
        self._policy = content_security_policy(public_url, self._ancestors).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._add(message.get("headers", []), self._policy)
            await send(message)

        await self.app(scope, receive, with_headers)

    def _add(
        self, headers: Iterable[tuple[bytes, bytes]], policy: bytes
    ) -> list[tuple[bytes, bytes]]:
        ours = {name for name, _ in self._common} | {b"content-security-policy"}
        kept = [(n, v) for n, v in headers if n.lower() not in ours]
        return [*kept, *self._common, (b"content-security-policy", policy)]
