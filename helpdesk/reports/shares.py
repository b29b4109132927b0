"""How report figures are rounded."""

from __future__ import annotations


def share(part: int, whole: int) -> float | None:
    """A fraction of 1 with four decimals; None (no data) when nothing was counted."""
    return None if whole == 0 else round(part / whole, 4)
