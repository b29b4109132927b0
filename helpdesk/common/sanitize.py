"""HTML from customers is hostile: sanitise it before it is stored for display."""

from __future__ import annotations

import re

import nh3

_ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "cid"}


def clean_html(html: str | None) -> str | None:
    if not html:
        return None
    return nh3.clean(
        html, url_schemes=_ALLOWED_URL_SCHEMES, link_rel="noopener noreferrer nofollow"
    )


_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")
# Finds what `clean_text` would drop, far faster than translating a text that has none.
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str) -> str:
    """Drop control characters: NUL breaks PostgreSQL text, the rest only confuses displays."""
    return text.translate(_CONTROL)
