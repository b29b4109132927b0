"""The adapter contract: what a channel hands to intake, and what it is asked to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    """A file sent with a reply; its bytes are in the attachment store under `sha256`."""

    filename: str
    content_type: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class QuickReply:
    """A button offered under an outbound message. Tapping it comes back as an InboundMessage
    whose `payload` is this payload and whose text is the label (see `helpdesk.payloads`)."""

    payload: str
    label: str


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as any channel delivers it, in the one shape intake understands."""

    channel: str
    external_id: str
    sender: str
    text: str
    sender_name: str = ""
    html: str | None = None
    subject: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    sent_at: datetime | None = None
    # Chat channels are one running conversation; email threads by hints instead.
    continues_latest: bool = True
    # A ticket the channel believes this continues; honoured only if it is the sender's own.
    ticket_hint: int | None = None
    # The channel proved the hint (an email naming a message stored on that ticket, or sent by
    # a recorded participant): honoured whoever the sender is.
    hint_verified: bool = False
    language: str | None = None
    # A tapped quick reply or a command (`/human`, `/complaint`) in channel-neutral form.
    payload: str | None = None
    # Why the channel believes a machine sent this (an auto-reply, a mailing list): the core
    # then never answers it automatically.
    automatic: str | None = None
    # Where the message came in, within its channel: the name of the mailbox for email. A new
    # ticket keeps its first message's (routing rules match it as `mailbox`).
    entry_point: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: int
    ticket_id: int
    channel: str
    recipient: str
    text: str
    author_name: str
    sent_at: datetime
    html: str | None = None
    quick_replies: tuple[QuickReply, ...] = ()
    # "agent", "bot" or "system": channels may present them differently.
    author_type: str = "agent"
    attachments: tuple[OutboundAttachment, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What the channel did with a message: `delivered` if the customer surely has it."""

    delivered: bool


class DeliveryError(Exception):
    """A send failed. `permanent` failures (blocked, unknown recipient) are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class ChannelAdapter(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...
