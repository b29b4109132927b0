"""Bot texts from `templates/telegram/`, in Telegram's HTML mode with every user-supplied string
escaped, split into messages no longer than Telegram allows."""

from __future__ import annotations

from typing import Any

from markupsafe import escape

from helpdesk.templating import Templates

# Telegram's limit on a message's text after entities are parsed; the escaped source of a chunk
# is kept under it too, which is stricter and never breaks an entity.
MAX_MESSAGE_CHARS = 4096


class TelegramTexts:
    def __init__(self, templates: Templates) -> None:
        # Autoescape on: Telegram's HTML mode reads the same entities, so user text can never
        # add markup.
        self._environment = templates.environment(autoescape=True)

    def template(self, template_name: str, **context: Any) -> str:
        name = f"telegram/{template_name}.html"
        return self._environment.get_template(name).render(**context).strip()

    def message_chunks(
        self, text: str, *, author_name: str, header: bool, limit: int = MAX_MESSAGE_CHARS
    ) -> list[str]:
        """The reply as rendered chunks of at most `limit` characters, split between paragraphs
        where possible, then between lines, then between words, and only then inside a word."""
        empty = self.template("message", header=header, author_name=author_name, text="")
        pieces = _split(text.strip(), limit - len(empty))
        return [
            self.template("message", header=header and i == 0, author_name=author_name, text=piece)
            for i, piece in enumerate(pieces)
        ]


def _escaped_len(text: str) -> int:
    return len(escape(text))


def _split(text: str, limit: int) -> list[str]:
    if _escaped_len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", " "):
        parts = text.split(separator)
        if len(parts) > 1:
            return _pack(parts, separator, limit)
    return _hard_split(text, limit)


def _pack(parts: list[str], separator: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{separator}{part}" if current else part
        if _escaped_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        if _escaped_len(part) <= limit:
            current = part
        else:
            *whole, current = _split(part, limit)
            chunks.extend(whole)
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def _hard_split(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for char in text:
        if _escaped_len(current + char) > limit:
            chunks.append(current)
            current = ""
        current += char
    if current:
        chunks.append(current)
    return chunks
