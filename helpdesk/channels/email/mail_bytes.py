"""A reply's bytes, built cheaply: the legacy (compat32) MIME classes store headers as text,
where the modern API parses every header it is given; that parsing was most of the cost of
sending a mail. Mail to an internationalised address (RFC 6531) takes the modern API, which
knows SMTPUTF8.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

_LEGACY = email.policy.compat32.clone(linesep="\r\n")


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
    mail = MIMEMultipart("alternative")
    mail["From"] = formataddr((draft.from_name, draft.from_address), charset="utf-8")
    mail["To"] = draft.to
    if draft.cc:
        mail["Cc"] = ", ".join(formataddr(pair, charset="utf-8") for pair in draft.cc)
    for name, value in draft.headers:
        mail[name] = _header(name, value)
    mail.attach(MIMEText(draft.text, "plain", "utf-8"))
    mail.attach(MIMEText(draft.html, "html", "utf-8"))
    return mail.as_bytes(policy=_LEGACY)


def _header(name: str, value: str) -> str:
    """Short plain values as they are; others encoded (RFC 2047) and folded."""
    if value.isascii() and len(name) + len(value) < 76 and "\n" not in value and "\r" not in value:
        return value
    return Header(value, "us-ascii" if value.isascii() else "utf-8", header_name=name).encode()


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
