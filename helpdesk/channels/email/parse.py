"""Raw RFC 5322 bytes -> the parts a helpdesk needs, with the standard library's modern API.

Real mail is often broken: wrong or unknown charsets, 8-bit bytes in headers, missing headers.
Every part is decoded with a fallback instead of failing; only a message without a usable
sender is refused (ParseError), so the caller can quarantine it with the reason.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from html import escape

import html2text

from helpdesk.channels.email import noise, quoting
from helpdesk.channels.email.limits import (
    ADDRESS_LENGTH,
    FILENAME_LENGTH,
    decode_text,
    readable_address,
)
from helpdesk.common.sanitize import clean_text
from helpdesk.messages import InboundAttachment

# Nested messages deeper than this are kept whole as attachments, never walked.
MAX_DEPTH = 20


class _CachingHeaderRegistry(HeaderRegistry):
    """The modern API parses a header again on every access (Content-Type alone a dozen times
    per message, through `get_content_type`, `get_param`, the feed parser); header objects are
    immutable, so equal raw values share one parse. This halved the cost of reading a message."""

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one registry lives as long as the process
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = email.policy.default.clone(header_factory=_CachingHeaderRegistry())


class ParseError(Exception):
    """The message cannot become a ticket message; the text is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None
    sender: str
    sender_name: str
    subject: str
    text: str
    html: str | None
    sent_at: datetime | None
    references: tuple[str, ...]
    cc: tuple[tuple[str, str], ...]
    to: tuple[tuple[str, str], ...]
    attachments: tuple[InboundAttachment, ...] = ()
    automatic: str | None = None
    bounce: noise.Bounce | None = None
    # (display name, address) of the first Reply-To; the mailbox decides whether to believe it.
    reply_to: tuple[str, str] | None = None
    defects: tuple[str, ...] = field(default=())
    # The Date header as sent, kept when it is not used as the message's time (see limits).
    date_header: str = ""


def parse(raw: bytes) -> ParsedMail:
    message = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(message, EmailMessage)
    sender_name, sender = (
        _first_address(message, "From")
        or _first_address(message, "Sender")
        or (
            "",
            "",
        )
    )
    if not sender or "@" not in sender:
        raise ParseError("no sender address: the From header is missing or unreadable")
    if len(sender) > ADDRESS_LENGTH:
        raise ParseError(
            f"the sender address is {len(sender)} characters long; no address is longer"
            f" than {ADDRESS_LENGTH}"
        )
    text_part, html_part, attachments = _walk(message)
    html = _decoded(html_part) if html_part is not None else None
    full_text = _decoded(text_part) if text_part is not None else ""
    if not full_text.strip() and html:
        full_text = html_to_text(html)
    shown = quoting.visible_reply(full_text)
    if html is None and shown.strip() != full_text.strip():
        # The original stays visible on demand: the plain original, escaped, as display HTML.
        html = f"<pre>{escape(full_text)}</pre>"
    date_header = _raw_header(message, "Date")
    return ParsedMail(
        message_id=_message_id(_raw_header(message, "Message-ID")),
        sender=sender.strip().lower(),
        sender_name=sender_name.strip(),
        subject=" ".join(_header(message, "Subject").split()),
        text=shown.strip() or full_text.strip(),
        html=html,
        sent_at=_date(date_header),
        reply_to=_first_address(message, "Reply-To"),
        references=_references(message),
        cc=_addresses(message, "Cc"),
        to=_addresses(message, "To"),
        attachments=tuple(attachments),
        automatic=noise.automatic_reason(message),
        bounce=noise.bounce_of(message),
        defects=tuple(type(d).__name__ for d in message.defects),
        date_header=date_header,
    )


def parse_many(
    data: Sequence[bytes], limit: int | None
) -> list[tuple[ParsedMail | None, str | None]]:
    """Each message parsed, or the reason it must be quarantined (runs in a worker thread)."""
    outcomes: list[tuple[ParsedMail | None, str | None]] = []
    for raw in data:
        if limit is not None and len(raw) > limit:
            outcomes.append((None, f"too large: {len(raw)} bytes, the limit is {limit}"))
            continue
        try:
            outcomes.append((parse(raw), None))
        except ParseError as exc:
            outcomes.append((None, str(exc)))
        except Exception as exc:
            outcomes.append((None, f"could not be parsed: {type(exc).__name__}: {exc}"[:1000]))
    return outcomes


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = False
    return converter.handle(html).strip()


def _walk(
    message: Message,
) -> tuple[Message | None, Message | None, list[InboundAttachment]]:
    """The first plain and HTML bodies, and every other leaf as an attachment."""
    text_part: Message | None = None
    html_part: Message | None = None
    attachments: list[InboundAttachment] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop(0)
        content_type = part.get_content_type()
        if content_type.startswith("multipart/") and part.is_multipart():
            if depth >= MAX_DEPTH:
                attachments.append(_whole(part, "nested.eml"))
                continue
            # A parsed multipart's payload holds only messages; the check tells the type checker.
            children = [child for child in part.get_payload() if isinstance(child, Message)]
            stack[0:0] = [(child, depth + 1) for child in children]
            continue
        if content_type == "message/rfc822" or content_type.startswith("message/"):
            attachments.append(_whole(part, "forwarded.eml"))
            continue
        disposition = part.get_content_disposition()
        if disposition != "attachment" and content_type == "text/plain" and text_part is None:
            text_part = part
        elif disposition != "attachment" and content_type == "text/html" and html_part is None:
            html_part = part
        else:
            attachments.append(_attachment(part, len(attachments)))
    return text_part, html_part, attachments


def _attachment(part: Message, index: int) -> InboundAttachment:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = str(part.get_payload()).encode("utf-8", "replace")
    try:
        filename = part.get_filename() or ""
    except (ValueError, LookupError, TypeError):
        filename = ""
    extension = (part.get_content_subtype() or "bin")[:10]
    return InboundAttachment(
        filename=_clean(filename)[:FILENAME_LENGTH] or f"part-{index + 1}.{extension}",
        content_type=_clean(part.get_content_type())[:255],
        data=data,
        inline=part.get_content_disposition() == "inline" or bool(part.get("Content-ID")),
    )


def _whole(part: Message, default_name: str) -> InboundAttachment:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        data = payload[0].as_bytes() if part.get_content_type() == "message/rfc822" else b""
        if not data:
            data = part.as_bytes()
    else:
        data = part.as_bytes()
    return InboundAttachment(default_name, "message/rfc822", data, inline=False)


def _decoded(part: Message) -> str:
    """The part's text in its declared charset, or the closest readable guess."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return str(part.get_payload())
    return decode_text(raw, part.get_content_charset())


def _raw_header(message: Message, name: str) -> str:
    """For headers that are plain tokens (ids, dates): no decoding needed, and the header
    registry's parser is the slowest part of reading a message."""
    lowered = name.lower()
    value = next((v for k, v in message.raw_items() if k.lower() == lowered), "")
    return _clean(" ".join(str(value).split()))


def _header(message: Message, name: str) -> str:
    lowered = name.lower()
    first = next((str(v) for k, v in message.raw_items() if k.lower() == lowered), None)
    if first is not None and first.isascii() and "=?" not in first:
        # Plain ASCII needs no decoding: the header registry's parser (a sixth of reading a
        # message) would only take the folding out, and the caller collapses whitespace anyway.
        return _clean(" ".join(first.split()))
    try:
        value = message.get(name)
    except (ValueError, LookupError, TypeError, IndexError, AttributeError):
        value = message.get_all(name, failobj=[None])[0] if hasattr(message, "get_all") else None
    if value is None:
        return ""
    text = str(value)
    if "\ufffd" in text:
        # The policy replaced undecodable 8-bit bytes; the stored raw value still has them.
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        if raw is not None and "=?" not in raw:
            text = " ".join(raw.split())
    return _clean(text)


def _first_address(message: Message, name: str) -> tuple[str, str] | None:
    # Any length: the caller says clearly that an address is too long.
    found = _addresses(message, name, any_length=True)
    return found[0] if found else None


def _addresses(
    message: Message, name: str, *, any_length: bool = False
) -> tuple[tuple[str, str], ...]:
    raw_values = [str(v) for k, v in message.raw_items() if k.lower() == name.lower()]
    if raw_values and all(v.isascii() and "=?" not in v for v in raw_values):
        # Plain ASCII needs no decoding, and the simple parser is five times faster than the
        # header registry's, which was the largest part of reading a message.
        plain = email.utils.getaddresses(raw_values)
        if all(address.count("@") == 1 for _, address in plain):
            return tuple(
                (_clean(" ".join(display.split())), address.lower())
                for display, address in plain
                if readable_address(address, any_length=any_length)
            )
    try:
        header = message.get(name)
        addresses = getattr(header, "addresses", None)
        if addresses is not None:
            found = [
                (_clean(a.display_name), _clean(f"{a.username}@{a.domain}").lower())
                for a in addresses
                if a.username and a.domain
            ]
            return tuple((n, a) for n, a in found if readable_address(a, any_length=any_length))
    except (ValueError, LookupError, TypeError, IndexError, AttributeError):
        pass
    # The structured parser gave up: fall back to the lenient one on the raw text.
    raw = [str(v) for v in message.get_all(name, [])] if hasattr(message, "get_all") else []
    return tuple(
        (_clean(display), _clean(address).lower())
        for display, address in email.utils.getaddresses(raw)
        if readable_address(_clean(address), any_length=any_length)
    )


def _message_id(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    start, end = value.find("<"), value.find(">")
    if start != -1 and end > start:
        return value[start : end + 1]
    return f"<{value.split()[0]}>"


def _references(message: Message) -> tuple[str, ...]:
    found: list[str] = []
    for name in ("In-Reply-To", "References"):
        for token in _raw_header(message, name).replace(">", "> ").split():
            if token.startswith("<") and token.endswith(">") and token not in found:
                found.append(token)
    return tuple(found)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _clean(value: str) -> str:
    """Raw 8-bit header bytes come back as surrogates, which cannot be stored: read them as
    UTF-8 when they are (RFC 6532), else as Windows-1252 (what such mail nearly always is).
    Control characters (NUL above all, which PostgreSQL refuses) go too."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("cp1252", "replace")
        # What neither reads (lone surrogates from an encoded word) cannot be stored either.
        value = value.encode("utf-8", "replace").decode("utf-8")
    return clean_text(value)
