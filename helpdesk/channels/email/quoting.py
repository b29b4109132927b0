"""The new part of a reply: quoted history and signature stripped for the shown text."""

from __future__ import annotations

from mailparser_reply import EmailReplyParser

# Outlook writes its quoted-history header in the sender's language ("Från:/Skickat:" in Swedish).
_parser = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs"])


def visible_reply(text: str) -> str:
    """What the customer wrote this time; the whole text when nothing could be told apart."""
    if not text.strip():
        return text
    try:
        replies = _parser.read(text=text).replies
    except Exception:
        # A third-party heuristic must never cost us the message: show it all instead.
        return text
    if not replies:
        return text
    body = replies[0].body.strip()
    return body or text
