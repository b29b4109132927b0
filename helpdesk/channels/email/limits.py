"""What the database can hold, met before anything is inserted, the same on every database.

PostgreSQL refuses a value longer than its column and any NUL; SQLite takes both. Every limit is
enforced here, in code, so a mail behaves the same on both: an address no mail system could have
sent is quarantined or left out, a file name is shortened, a date from the future is replaced.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

# RFC 5321 allows 64 + 1 + 255; the identity and participant columns hold 320.
ADDRESS_LENGTH = 320
FILENAME_LENGTH = 255
# The email_original_dates column; a real Date header is about 40 characters.
DATE_HEADER_LENGTH = 200
# A Date header further ahead than this is a wrong clock (or a trick to sort first).
FUTURE_TOLERANCE = timedelta(days=1)

_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xef][\x80-\xbf]{2}"
    rb"|[\xf0-\xf4][\x80-\xbf]{3}"
)
_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}


def readable_address(address: str, *, any_length: bool = False) -> bool:
    """An address we can store and write to: local part @ domain, no spaces, within the column.
    Internationalised addresses (RFC 6532) are readable: only their length is checked."""
    local, at, domain = address.rpartition("@")
    return (
        bool(at and local and domain)
        and (any_length or len(address) <= ADDRESS_LENGTH)
        and not any(c.isspace() or ord(c) < 32 for c in address)
    )


def decode_text(raw: bytes, declared: str | None) -> str:
    """A body in its declared charset. UTF-8 with a few bad bytes keeps its good characters
    (each bad byte becomes U+FFFD) instead of turning all of them into Windows-1252 mojibake;
    text that is not UTF-8 at all is read as Windows-1252, what such mail nearly always is."""
    charset = (declared or "utf-8").lower()
    try:
        return raw.decode(charset)
    except LookupError:
        charset = "utf-8"
    except UnicodeDecodeError:
        pass
    if charset not in _UTF8_NAMES:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if _mostly_utf8(raw):
        return raw.decode("utf-8", "replace")
    return raw.decode("cp1252", "replace")


def _mostly_utf8(raw: bytes) -> bool:
    valid = len(_UTF8_SEQUENCE.findall(raw))
    if valid == 0:
        return False
    # U+FFFD already in the text (EF BF BD) is not a bad byte.
    invalid = raw.decode("utf-8", "replace").count("\ufffd") - raw.count(b"\xef\xbf\xbd")
    return valid >= invalid


def plausible_date(sent_at: datetime | None, received_at: datetime) -> datetime | None:
    """The sender's Date, unless it lies in the future: then the time we received the mail."""
    if sent_at is None or sent_at > received_at + FUTURE_TOLERANCE:
        return None
    return sent_at


def unused_date_header(header: str, sent_at: datetime | None, received_at: datetime) -> str | None:
    """The Date header as sent when the message's time is not taken from it (it lies in the
    future, or cannot be read): kept so an agent can still see what the sender claimed."""
    if not header or plausible_date(sent_at, received_at) is not None:
        return None
    return header[:DATE_HEADER_LENGTH]
