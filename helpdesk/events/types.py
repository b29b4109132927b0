"""Domain events: facts recorded in the transaction that caused them (`event_log.record`) and
handed to their reactions after it commits (`helpdesk.events.dispatcher`).

Each is stored as its class name and its fields as JSON, so fields are plain values, and a
renamed class or field needs a migration of the stored rows.
"""

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
    # Why the channel believes a machine sent the ticket's first message, if it does.
    automatic: str | None = None
    # The agent who opened it (a call, a visit, writing first); None when the customer wrote.
    opened_by_agent_id: int | None = None
    # Opened already assigned to this agent: routing leaves it where it is.
    assignee_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketReopened(Event):
    ticket_id: int


# Longer texts cannot be a request for a person (`conversation.asks_for_person`); the event
# carries at most this much so that reactions can decline most messages without a query.
TEXT_PREVIEW = 200


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    ticket_id: int
    message_id: int
    customer_id: int
    channel: str
    # The start of the text (`TEXT_PREVIEW`); the stored message has all of it.
    text: str = ""
    payload: str | None = None
    # The message opened its ticket.
    opened_ticket: bool = False
    # Why the channel believes a machine sent it (an auto-reply, a mailing list), if it does.
    automatic: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyQueued(Event):
    """An outbound message and its outbox item were committed; the worker can deliver it."""

    ticket_id: int
    message_id: int
    channel: str
    # Who wrote it (an `AuthorType` value), so reactions that care only about people's replies
    # skip the bot's and the system's without a read. Empty in events logged before it existed.
    author_type: str = ""


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
class TicketHandedOver(Event):
    """The bot stepped aside: a person must take the ticket (routing listens for this)."""

    ticket_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SatisfactionRated(Event):
    ticket_id: int
    score: int


@dataclass(frozen=True, slots=True)
class TouchPointLogged(Event):
    """A phone call or a visit recorded on a ticket: history and first response, never a
    delivery."""

    ticket_id: int
    message_id: int
    channel: str
    direction: str
    agent_id: int


@dataclass(frozen=True, slots=True)
class TicketsMerged(Event):
    """`merged_id`'s messages, notes and audit trail moved to `survivor_id`; it points there."""

    survivor_id: int
    merged_id: int


@dataclass(frozen=True, slots=True)
class MessageSplit(Event):
    """A message moved from `ticket_id` to the new ticket `new_ticket_id`."""

    ticket_id: int
    new_ticket_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class AgentDisabled(Event):
    """An admin disabled the agent: their sessions end and routing takes their tickets back."""

    agent_id: int


@dataclass(frozen=True, slots=True)
class TicketAssigned(Event):
    """Routing or a person gave the ticket to an agent (the agent's live feed shows it)."""

    ticket_id: int
    agent_id: int
    previous_agent_id: int | None = None
    # "routing", "supervisor", "taken"
    by: str = "routing"


@dataclass(frozen=True, slots=True)
class TicketReleased(Event):
    """A ticket was taken back from its agent (handed back, offline, disabled) and is routed
    again by the same transaction or waits in the holding queue."""

    ticket_id: int
    agent_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class AgentPresenceChanged(Event):
    agent_id: int
    presence: str


@dataclass(frozen=True, slots=True)
class AgentOfflinePastGrace(Event):
    """The agent stayed offline past the grace period: their unanswered tickets go to others."""

    agent_id: int


@dataclass(frozen=True, slots=True)
class SlaTimersChanged(Event):
    """A ticket's SLA timers were started, paused, resumed, ended or recomputed: every process's
    scheduler looks again at when it must wake."""

    ticket_id: int


@dataclass(frozen=True, slots=True)
class EscalationRaised(Event):
    """A step of an SLA ladder fired (or a repeated complaint came): the agents in `recipients`
    must look at the ticket. The agent's live feed shows it."""

    ticket_id: int
    escalation_id: int
    # warning, breach, further, repeat_complaint (`helpdesk.sla.policies.Level`)
    level: str
    reason: str
    recipients: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EscalationAcknowledged(Event):
    ticket_id: int
    escalation_id: int
    agent_id: int
