"""Charts for the dashboard: SVG drawn on the server by leather, so the page needs no script
to show them and a phone gets a picture, not a library. Labels are escaped by leather's XML
writer; the SVG is inlined without its XML prolog."""

from __future__ import annotations

import io
from collections.abc import Sequence

import leather
from markupsafe import Markup

# Title, margins and the axis take about 100 px; each bar gets 30 more.
WIDTH, ROW_HEIGHT, PADDING = 560, 30, 100


def bar_chart(title: str, rows: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars, one per (label, value), in the order given. Empty rows draw nothing:
    the template says "no data" instead of an empty frame."""
    if not rows:
        return Markup("")
    chart = leather.Chart(title)
    # leather puts the first series' first row at the bottom: reversed, the first is on top.
    chart.add_bars([(max(value, 0.0), _short(label)) for label, value in reversed(rows)])
    out = io.StringIO()
    height = PADDING + ROW_HEIGHT * len(rows)
    chart.to_svg(out, width=WIDTH, height=height)
    svg = out.getvalue()
    start = svg.find("<svg")
    # A viewBox lets it shrink to a phone's width and keep its proportions (CSS: max-width).
    svg = svg[start:].replace("<svg ", f'<svg role="img" viewBox="0 0 {WIDTH} {height}" ', 1)
    return Markup(f'<figure class="chart" aria-label="{Markup.escape(title)}">{svg}</figure>')


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
