"""A reply's bytes, built cheaply. The standard library's MIME classes cost most of the CPU of
sending a mail (the generator re-folds every header and compiles a regular expression per part,
the modern API parses every header it is given), so an all-ASCII-addressed reply, which is
nearly every reply, is written out directly: a multipart/alternative of a plain and an HTML part,
each UTF-8 in base64, headers encoded (RFC 2047) when not ASCII and folded at 78 columns. What it
writes is what the legacy classes wrote. Mail to an internationalised address (RFC 6531) takes
the modern API, which knows SMTPUTF8.
"""

from __future__ import annotations

import base64
import email.policy
import random
import sys
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr

_FOLD_AT = 78


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipients: list[str]
    data: bytes
    # An address is not ASCII: the server must accept SMTPUTF8.
    utf8: bool


@dataclass(frozen=True, slots=True)
class Draft:
    from_name: str
    from_address: str
    to: str
    cc: list[tuple[str, str]]
    headers: list[tuple[str, str]]  # Subject, Date, Message-ID, ...: plain values
    text: str
    html: str


def envelope(draft: Draft) -> Envelope:
    addresses = [draft.from_address, draft.to, *(address for _, address in draft.cc)]
    recipients = [draft.to, *(address for _, address in draft.cc)]
    if all(address.isascii() for address in addresses):
        data = _legacy(draft)
        return Envelope(draft.from_address, recipients, data, utf8=False)
    return Envelope(draft.from_address, recipients, _modern(draft), utf8=True)


def _legacy(draft: Draft) -> bytes:
    boundary = f"==============={random.randrange(sys.maxsize):019d}=="
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
        _field("From", formataddr((draft.from_name, draft.from_address), charset="utf-8")),
        _field("To", draft.to),
    ]
    if draft.cc:
        lines.append(
            _field("Cc", ", ".join(formataddr(pair, charset="utf-8") for pair in draft.cc))
        )
    lines.extend(_field(name, value) for name, value in draft.headers)
    # Base64 never holds "==" followed by more text, so the boundary cannot occur in a part.
    for subtype, content in (("plain", draft.text), ("html", draft.html)):
        lines += [
            "",
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(content.encode("utf-8")).decode("ascii").rstrip("\n"),
        ]
    lines += ["", f"--{boundary}--", ""]
    # encodebytes ends its lines with LF alone; mail wants CRLF throughout.
    return "\r\n".join(lines).replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


def _field(name: str, value: str) -> str:
    """One header line: a value that is not ASCII encoded (RFC 2047); folded at 78 columns."""
    # A line break in a value would start a header of its own (header injection).
    value = " ".join(value.splitlines())
    if not value.isascii():
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
        return f"{name}: {encoded}"
    line = f"{name}: {value}"
    if len(line) <= _FOLD_AT:
        return line
    # Folding puts a line break before a space; unfolding takes it out again (RFC 5322 2.2.3).
    # The first word stays beside the name (a value starting on the next line would keep a
    # leading space in some readers), however long: lines may reach 998 characters.
    first, *words = value.split(" ")
    folded = [f"{name}: {first}"]
    for word in words:
        # An empty word (two spaces) stays: a line of white space alone is not allowed.
        if not word or len(folded[-1]) + 1 + len(word) <= _FOLD_AT:
            folded[-1] += " " + word
        else:
            folded.append(word)
    return "\r\n ".join(folded)


def _modern(draft: Draft) -> bytes:
    mail = EmailMessage(policy=email.policy.SMTPUTF8)
    mail["From"] = Address(draft.from_name, addr_spec=draft.from_address)
    mail["To"] = draft.to
    if draft.cc:
        mail["Cc"] = [Address(name, addr_spec=address) for name, address in draft.cc]
    for name, value in draft.headers:
        mail[name] = value
    mail.set_content(draft.text)
    mail.add_alternative(draft.html, subtype="html")
    return mail.as_bytes()
