"""HTML from customers is hostile: sanitise it before it is stored for display."""

from __future__ import annotations

import re

import nh3

_ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "cid"}


# Bidirectional embeddings, overrides and isolates: they make "gpj.exe" read as "exe.jpg" and
# reorder what an agent sees; no customer message needs them.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_REMOTE = ("http:", "https:", "//")


def clean_html(html: str | None) -> str | None:
    if not html:
        return None
    return nh3.clean(
        html.translate(_BIDI_CONTROLS),
        url_schemes=_ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def block_remote_images(html: str) -> tuple[str, int]:
    """Stored HTML for display without its remote images (tracking pixels: loading one tells
    the sender the mail was read, and when, and from where) and the number taken out. Images
    in the mail itself (`cid:`) stay. Runs on sanitised HTML, so nothing else changes."""
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        remote = value.strip().lower().startswith(_REMOTE)
        if tag == "img" and attribute in ("src", "srcset") and remote:
            blocked += 1
            return None
        return value

    cleaned = nh3.clean(
        html,
        url_schemes=_ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=keep,
    )
    return cleaned, blocked


_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")
# Finds what `clean_text` would drop, far faster than translating a text that has none.
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str) -> str:
    """Drop control characters: NUL breaks PostgreSQL text, the rest only confuses displays."""
    return text.translate(_CONTROL)
