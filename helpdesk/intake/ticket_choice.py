"""Which ticket an arriving message belongs to: continue, reopen, or a new one.

Decided for a whole batch from plain rows, before anything is written, so intake can write the
batch with a few set-based statements.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, or_

from helpdesk import payloads
from helpdesk.messages import InboundMessage
from helpdesk.tickets.models import OPEN_STATUSES, TicketStatus


class Choice(enum.Enum):
    CONTINUE = "continue"
    REOPEN = "reopen"
    NEW = "new"
    # A rating, a "did this help?" vote or a machine's answer (an auto-reply to a resolved
    # ticket): filed on its ticket, whose status it leaves alone.
    FEEDBACK = "feedback"


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    customer_id: int
    channel: str
    status: TicketStatus
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    choice: Choice
    # The existing ticket to continue or reopen; None for a new one.
    ticket: TicketRow | None
    # Messages that share a conversation key in one batch share one ticket.
    conversation: tuple[object, ...]


_First = TypeVar("_First")
# Constrained because the values are sorted.
_Second = TypeVar("_Second", int, str)


def pairs_in(
    first: SQLColumnExpression[_First],
    second: SQLColumnExpression[_Second],
    pairs: Iterable[tuple[_First, _Second]],
) -> ColumnElement[bool]:
    """`(a, b) IN pairs`, written as `a = x AND b IN (…)` per distinct a (put the column with few
    values first: the channel), so the composite index is used whatever the planner's statistics
    say (a fresh PostgreSQL database has none)."""
    grouped: dict[_First, set[_Second]] = defaultdict(set)
    for a, b in pairs:
        grouped[a].add(b)
    if not grouped:
        return false()
    return or_(*(and_(first == a, second.in_(sorted(bs))) for a, bs in grouped.items()))


def decide(
    message: InboundMessage,
    customer_id: int,
    position: int,
    latest: dict[tuple[int, str], TicketRow],
    hinted: dict[int, TicketRow],
    *,
    now: datetime,
    reopen_window: timedelta,
) -> Decision:
    candidate: TicketRow | None = None
    conversation: tuple[object, ...]
    hint = hinted.get(message.ticket_hint) if message.ticket_hint is not None else None
    # A hint naming someone else's ticket is ignored unless the channel proved it: strangers
    # never get into it.
    if hint is not None and (hint.customer_id == customer_id or message.hint_verified):
        candidate, conversation = hint, ("ticket", hint.id)
    elif message.continues_latest:
        candidate = latest.get((customer_id, message.channel))
        conversation = ("latest", customer_id, message.channel)
    else:
        conversation = ("new", position)
    if candidate is not None and payloads.is_feedback(message.payload):
        return Decision(Choice.FEEDBACK, candidate, conversation)
    if (
        candidate is not None
        and message.automatic is not None
        and candidate.status not in OPEN_STATUSES
    ):
        # An out-of-office answer to our reply belongs on the ticket, which it must not reopen
        # (nor start a new one the next auto-reply would answer).
        return Decision(Choice.FEEDBACK, candidate, conversation)
    if candidate is not None and candidate.status in OPEN_STATUSES:
        return Decision(Choice.CONTINUE, candidate, conversation)
    if (
        candidate is not None
        and candidate.status == TicketStatus.RESOLVED
        and candidate.resolved_at is not None
        and now - candidate.resolved_at <= reopen_window
    ):
        return Decision(Choice.REOPEN, candidate, conversation)
    # A closed ticket, or one resolved too long ago, is left alone: this starts a new one.
    return Decision(Choice.NEW, None, conversation)
