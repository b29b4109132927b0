"""Seeded typing noise for the knowledge-base benches: a share of a message's characters is
dropped, swapped with the next one, or replaced by a neighbouring key on a QWERTY keyboard.

    noisy("I lost my card", random.Random(1), rate=0.1)
"""

from __future__ import annotations

import random

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Keys beside each key, on its row and the rows above and below (offset by half a key)."""
    spots = {key: (r, c) for r, row in enumerate(_ROWS) for c, key in enumerate(row)}
    near: dict[str, str] = {}
    for key, (r, c) in spots.items():
        near[key] = "".join(
            other
            for other, (r2, c2) in spots.items()
            if other != key and abs(r2 - r) <= 1 and abs(c2 - c) <= 1
        )
    return near


NEIGHBOURS = _neighbours()


def noisy(text: str, rng: random.Random, rate: float = 0.1, *, spaces: bool = False) -> str:
    """`text` with round(rate x its letters and digits) of them changed (at least one), each by
    a drop, a swap with the next character or a neighbouring key, at equal odds. With `spaces`
    every character may be hit, spaces too (a dropped space joins two words): harsher."""
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if spaces or c.isalnum()]
    if not spots:
        return text
    edits = max(1, round(rate * len(spots)))
    for position in sorted(rng.sample(spots, edits), reverse=True):
        kind = rng.choice(("drop", "swap", "key"))
        if position >= len(chars):
            continue
        char = chars[position]
        if kind == "key" and char.lower() in NEIGHBOURS:
            replacement = rng.choice(NEIGHBOURS[char.lower()])
            chars[position] = replacement.upper() if char.isupper() else replacement
        elif kind == "swap" and position + 1 < len(chars):
            chars[position], chars[position + 1] = chars[position + 1], chars[position]
        else:
            del chars[position]
    return "".join(chars)
