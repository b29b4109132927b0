"""Which customer messages are worth ranking articles for at all."""

from __future__ import annotations

import unicodedata

# A question is a sentence or a short paragraph; pasted logs and documents are for people.
MAX_QUERY_CHARS = 2000
# Below this share of letters the text is codes, digits or binary noise, not a question.
MIN_LETTER_SHARE = 0.5


def usable_query(text: str | None) -> str | None:
    """The text to rank articles for, or None when it is empty, huge or binary-looking."""
    if not text:
        return None
    text = " ".join(text.split())
    if not text or len(text) > MAX_QUERY_CHARS:
        return None
    visible = [c for c in text if not c.isspace()]
    letters = sum(1 for c in visible if c.isalpha())
    strange = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c)[0] in "CS")
    if letters < 2 or letters / len(visible) < MIN_LETTER_SHARE or strange * 10 > len(visible):
        return None
    return text
