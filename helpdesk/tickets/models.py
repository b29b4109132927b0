"""Tickets, their messages, attachments and audit trail."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.customers.models import Customer, Identity
from helpdesk.staff.models import Agent, Team
from helpdesk.storage.base import Base, BigId, enum_column


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketKind(enum.StrEnum):
    QUESTION = "question"
    REQUEST = "request"
    COMPLAINT = "complaint"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"


class AuthorType(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class DeliveryState(enum.StrEnum):
    """Where an outbound message is; inbound messages and notes stay NOT_APPLICABLE."""

    NOT_APPLICABLE = "n/a"
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class Ticket(Base):
    """The ticket's id is its human-friendly number (#1042): short, unique, never reused."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_updated", "status", "updated_at"),
        Index("ix_tickets_customer_channel", "customer_id", "channel"),
        # Routing counts each agent's open tickets by channel (its load) from this alone.
        Index("ix_tickets_assignee_load", "assignee_id", "status", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus), default=TicketStatus.NEW
    )
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    kind: Mapped[TicketKind] = mapped_column(enum_column(TicketKind), default=TicketKind.QUESTION)
    channel: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_customer_message_at: Mapped[datetime | None]
    # Set once a person must take over: the bot then stays silent on this ticket.
    handed_over_at: Mapped[datetime | None]
    # The customer's 1-5 answer to the satisfaction question.
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_at: Mapped[datetime | None]
    # The customer's 0-10 answer to "would you recommend us to a friend?" (the recommend score).
    recommend_score: Mapped[int | None] = mapped_column(Integer)
    # Set when an agent merged this ticket into another: its messages now live there.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # Where the first message came in within its channel (an email's mailbox name), if the
    # channel has more than one way in; routing rules match on it.
    entry_point: Mapped[str | None] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship(lazy="raise")
    assignee: Mapped[Agent | None] = relationship(lazy="raise")
    team: Mapped[Team | None] = relationship(lazy="raise")


# What makes a message an agent's reply to the customer (a reply, a call or visit logged).
AGENT_REPLY = "direction = 'out' AND author_type = 'agent'"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_ticket_id_id", "ticket_id", "id"),
        # Reports count each ticket's agent replies (first-contact resolution) from this alone,
        # without reading the customers' messages (migration 0024).
        Index(
            "ix_messages_agent_replies",
            "ticket_id",
            postgresql_where=sql_text(AGENT_REPLY),
            sqlite_where=sql_text(AGENT_REPLY),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    author_type: Mapped[AuthorType] = mapped_column(enum_column(AuthorType))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    channel: Mapped[str] = mapped_column(String(32))
    # Unique per channel: the channel's own id for inbound, our idempotency key for outbound.
    external_id: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivery_state: Mapped[DeliveryState] = mapped_column(
        enum_column(DeliveryState), default=DeliveryState.NOT_APPLICABLE
    )
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # The quick reply or command this inbound message carried (`helpdesk.payloads`).
    payload: Mapped[str | None] = mapped_column(String(64))
    # Buttons offered under an outbound message: [{"payload": ..., "label": ...}].
    quick_replies: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    # How long a touch point that is not a channel (a phone call, a visit) lasted.
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    ticket: Mapped[Ticket] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    identity: Mapped[Identity | None] = relationship(lazy="raise")
    agent: Mapped[Agent | None] = relationship(lazy="raise")
    attachments: Mapped[list[Attachment]] = relationship(lazy="raise")


class Attachment(Base):
    """Metadata of a file; its bytes live once in the content-addressed store, by sha256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    """Who changed what, and why when the actor was automatic."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor_type: Mapped[AuthorType] = mapped_column(enum_column(AuthorType))
    actor_id: Mapped[int | None]
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Why complaints happen, as a supervisor reports them; the list is a setting
# (`tickets.complaint_root_causes`), these are its defaults.
DEFAULT_ROOT_CAUSES = (
    "no or little support",
    "delay in fixing",
    "poor quality of work",
    "poor overall service",
    "price",
)


class ComplaintResolution(Base):
    """How a complaint was put right: a complaint is resolved only with a remedy and a cause."""

    __tablename__ = "complaint_resolutions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    root_cause: Mapped[str] = mapped_column(String(100))
    remedy: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    resolved_at: Mapped[datetime]
    # Some days later the customer is asked whether the fix worked (`helpdesk.sla.follow_up`).
    follow_up_at: Mapped[datetime | None] = mapped_column(index=True)
    follow_up_sent_at: Mapped[datetime | None]
    # "worked" or "failed" once the customer answered.
    follow_up_answer: Mapped[str | None] = mapped_column(String(8))


class ComplaintSuggestion(Base):
    """The detector thinks a customer's message is a complaint; an agent confirms or not."""

    __tablename__ = "complaint_suggestions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    confirmed: Mapped[bool | None] = mapped_column(Boolean)
