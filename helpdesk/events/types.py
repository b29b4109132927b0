"""Domain events: facts recorded inside a transaction and published only after it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class TicketCreated(Event):
    ticket_id: int
    customer_id: int
    channel: str


@dataclass(frozen=True, slots=True)
class TicketReopened(Event):
    ticket_id: int


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    ticket_id: int
    message_id: int
    customer_id: int
    channel: str
    # Carried so listeners can ignore most messages without a database round trip.
    text: str = ""
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyQueued(Event):
    """An outbound message and its outbox item were committed; the worker can deliver it."""

    ticket_id: int
    message_id: int
    outbox_item_id: int
    channel: str


@dataclass(frozen=True, slots=True)
class NoteAdded(Event):
    ticket_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class TicketChanged(Event):
    ticket_id: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryChanged(Event):
    ticket_id: int
    message_id: int
    state: str


@dataclass(frozen=True, slots=True)
class AgentTyping(Event):
    """Transient: nothing is stored, it only tells the customer's chat someone is writing."""

    ticket_id: int
    agent_name: str


@dataclass(frozen=True, slots=True)
class TicketHandedOver(Event):
    """The bot stepped aside: a person must take the ticket (routing listens for this)."""

    ticket_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SatisfactionRated(Event):
    ticket_id: int
    score: int
