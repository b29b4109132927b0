"""Threading: our Message-IDs, the ticket number in subjects, and which ticket a reply names.

Our outgoing Message-IDs carry the ticket and message numbers and a keyed signature, so a reply
naming one is recognised without a lookup and a forged one is not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OurMessageId:
    ticket_id: int
    message_id: int


class MessageIds:
    def __init__(self, secret: str, domain: str) -> None:
        self._key = hashlib.sha256(b"email-message-id:" + secret.encode()).digest()
        self.domain = domain.lower()
        self._pattern = re.compile(
            rf"^<hd\.(\d+)\.(\d+)\.([0-9a-f]{{16}})@{re.escape(self.domain)}>$", re.IGNORECASE
        )

    def _signature(self, ticket_id: int, message_id: int) -> str:
        data = f"{ticket_id}.{message_id}".encode()
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:16]

    def make(self, ticket_id: int, message_id: int) -> str:
        """Stable for one outbound message: a retry after a crash sends the same id again."""
        return (
            f"<hd.{ticket_id}.{message_id}.{self._signature(ticket_id, message_id)}@{self.domain}>"
        )

    def ours(self, value: str) -> OurMessageId | None:
        found = self._pattern.match(value.strip())
        if not found:
            return None
        ticket_id, message_id = int(found[1]), int(found[2])
        if not hmac.compare_digest(found[3].lower(), self._signature(ticket_id, message_id)):
            return None
        return OurMessageId(ticket_id, message_id)


class SubjectTag:
    """The ticket number in a subject, in the configured format (default `[#1234]`)."""

    def __init__(self, template: str) -> None:
        self.template = template
        before, _, after = template.partition("{number}")
        self._pattern = re.compile(re.escape(before) + r"(\d{1,18})" + re.escape(after))

    def add(self, subject: str, ticket_id: int) -> str:
        tag = self.template.format(number=ticket_id)
        return subject if tag in subject else f"{subject} {tag}".strip()

    def find(self, subject: str) -> int | None:
        found = self._pattern.search(subject)
        return int(found[1]) if found else None


def reference_key(rfc_message_id: str) -> str:
    """Message-IDs may be up to 998 characters; long ones are stored by their digest."""
    value = rfc_message_id.strip()
    if len(value) <= 180:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def external_id(mailbox: str, rfc_message_id: str | None, raw: bytes) -> str:
    """Unique per mailbox: the Message-ID, or the content's digest when there is none."""
    if rfc_message_id:
        return f"{mailbox}:{reference_key(rfc_message_id)}"
    return f"{mailbox}:sha256:{hashlib.sha256(raw).hexdigest()}"
