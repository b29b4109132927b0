"""The payloads of quick replies and commands, the same on every channel.

A channel turns a tapped button or a command (`/human`, `/complaint`) into an InboundMessage with
one of these payloads; `helpdesk.conversation` acts on them whatever the channel was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_LENGTH = 64
HUMAN = "human"
COMPLAINT = "complaint"
# The customer withdraws consent to messages they did not ask for on this channel (`/stop`).
STOP = "stop"


class PayloadKind(enum.StrEnum):
    HUMAN = "human"
    COMPLAINT = "complaint"
    KB_HELPED = "kb_helped"
    KB_NOT_HELPED = "kb_not_helped"
    RATING = "rating"
    # The 0-10 answer to "would you recommend us to a friend?".
    RECOMMEND = "recommend"
    # The answer to "did our fix work?" some days after a complaint was resolved.
    FIX_WORKED = "fix_worked"
    FIX_FAILED = "fix_failed"
    STOP = "stop"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Payload:
    kind: PayloadKind
    # The article of a kb vote, or the score of a rating.
    value: int | None = None


def kb_helped(article_id: int) -> str:
    return f"kb:yes:{article_id}"


def kb_not_helped(article_id: int) -> str:
    return f"kb:no:{article_id}"


def rating(score: int) -> str:
    if not 1 <= score <= 5:
        raise ValueError("a rating is 1 to 5")
    return f"csat:{score}"


def recommend(score: int) -> str:
    if not 0 <= score <= 10:
        raise ValueError("a recommend score is 0 to 10")
    return f"nps:{score}"


def fix_worked(ticket_id: int) -> str:
    return f"fix:yes:{ticket_id}"


def fix_failed(ticket_id: int) -> str:
    return f"fix:no:{ticket_id}"


def parse(payload: str | None) -> Payload | None:
    """What a payload asks for; None when there is none, UNKNOWN when it is not ours."""
    if not payload:
        return None
    if payload == HUMAN:
        return Payload(PayloadKind.HUMAN)
    if payload == COMPLAINT:
        return Payload(PayloadKind.COMPLAINT)
    if payload == STOP:
        return Payload(PayloadKind.STOP)
    head, _, number = payload.rpartition(":")
    if not number.isdigit() or len(number) > 12:
        return Payload(PayloadKind.UNKNOWN)
    value = int(number)
    if head == "kb:yes":
        return Payload(PayloadKind.KB_HELPED, value)
    if head == "kb:no":
        return Payload(PayloadKind.KB_NOT_HELPED, value)
    if head == "fix:yes":
        return Payload(PayloadKind.FIX_WORKED, value)
    if head == "fix:no":
        return Payload(PayloadKind.FIX_FAILED, value)
    if head == "csat" and 1 <= value <= 5:
        return Payload(PayloadKind.RATING, value)
    if head == "nps" and 0 <= value <= 10:
        return Payload(PayloadKind.RECOMMEND, value)
    return Payload(PayloadKind.UNKNOWN)


def is_feedback(payload: str | None) -> bool:
    """Feedback answers a question about a ticket; it neither reopens nor continues it."""
    parsed = parse(payload)
    return parsed is not None and parsed.kind in FEEDBACK_KINDS


FEEDBACK_KINDS = frozenset(
    {
        PayloadKind.RATING,
        PayloadKind.RECOMMEND,
        PayloadKind.KB_HELPED,
        PayloadKind.KB_NOT_HELPED,
        PayloadKind.FIX_WORKED,
        PayloadKind.FIX_FAILED,
    }
)
