"""Which sites' pages may open the chat: the helpdesk's own public URL and the sites an operator
lists (`webchat.allowed_origins`). A browser always names the page's origin; a program that sends
none is no browser page another site could abuse, so it is let through."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """`scheme://host[:port]` in lower case, default ports left out, as browsers send it."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return url.strip().lower().rstrip("/")
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class AllowedOrigins:
    def __init__(self, public_url: str, listed: list[str]) -> None:
        self.any = "*" in listed
        self._allowed = {origin_of(public_url)} | {origin_of(o) for o in listed if o != "*"}

    def allows(self, origin: str | None) -> bool:
        if origin is None:
            return True
        return self.any or origin_of(origin) in self._allowed
