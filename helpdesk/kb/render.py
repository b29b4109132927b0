"""Article bodies are Markdown; they are shown as sanitised HTML and sent as plain text."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML in an article is shown as text, and nh3 cleans what Markdown produces anyway.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def to_html(body: str) -> str:
    html = _markdown().render(body)
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


def to_text(body: str) -> str:
    """What a chat customer reads: the Markdown source with the markup a reader notices
    least kept; links stay readable as `text (url)`."""
    tokens = _markdown().parse(body)
    lines: list[str] = []
    for token in tokens:
        if token.type == "inline" and token.children is not None:
            lines.append(_inline_text(token.children))
        elif token.type in ("fence", "code_block"):
            lines.append(token.content.rstrip("\n"))
        elif token.type == "list_item_open":
            lines.append("• ")
    text = ""
    for line in lines:
        text += line if text.endswith("• ") else ("\n" if text else "") + line
    return text.strip()


def _inline_text(children: list) -> str:
    parts: list[str] = []
    href: str | None = None
    for child in children:
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
        elif child.type == "link_close" and href:
            parts.append(f" ({href})")
            href = None
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)
