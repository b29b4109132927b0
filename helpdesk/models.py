"""The typed ORM tables. Times are timezone-aware UTC; business time lives only in `sla/`."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite forgets the zone, so it is put back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; helpdesk stores aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# BigInteger ids on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


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


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


class CustomerTier(enum.StrEnum):
    STANDARD = "standard"
    KEY = "key"


team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    members: Mapped[list[Agent]] = relationship(secondary=team_members, back_populates="teams")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.AGENT)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", lazy="selectin"
    )


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(16))
    tier: Mapped[CustomerTier] = mapped_column(_enum(CustomerTier), default=CustomerTier.STANDARD)
    created_at: Mapped[datetime]
    identities: Mapped[list[Identity]] = relationship(back_populates="customer")


class Identity(Base):
    """One address a customer is known by on one channel (email address, chat visitor, user id)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # The channel's handle for the person where it has one (Telegram @username).
    username: Mapped[str | None] = mapped_column(String(64))
    customer: Mapped[Customer] = relationship(back_populates="identities")


class Ticket(Base):
    """The ticket's id is its human-friendly number (#1042): short, unique, never reused."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_updated", "status", "updated_at"),
        Index("ix_tickets_customer_channel", "customer_id", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.NEW)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    kind: Mapped[TicketKind] = mapped_column(_enum(TicketKind), default=TicketKind.QUESTION)
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

    customer: Mapped[Customer] = relationship(lazy="raise")
    assignee: Mapped[Agent | None] = relationship(lazy="raise")
    team: Mapped[Team | None] = relationship(lazy="raise")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_ticket_id_id", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    author_type: Mapped[AuthorType] = mapped_column(_enum(AuthorType))
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
        _enum(DeliveryState), default=DeliveryState.NOT_APPLICABLE
    )
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # The quick reply or command this inbound message carried (`helpdesk.payloads`).
    payload: Mapped[str | None] = mapped_column(String(64))
    # Buttons offered under an outbound message: [{"payload": ..., "label": ...}].
    quick_replies: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)

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


class OutboxItem(Base):
    """A delivery job, committed together with the message it delivers."""

    __tablename__ = "outbox_items"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who changed what, and why when the actor was automatic."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor_type: Mapped[AuthorType] = mapped_column(_enum(AuthorType))
    actor_id: Mapped[int | None]
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- Telegram channel -----------------------------------------------------------------------


class TelegramState(Base):
    """Where polling stands for one bot: the next update id to ask for, committed together with
    the messages of the updates before it."""

    __tablename__ = "telegram_state"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class TelegramSkippedUpdate(Base):
    """An update that was not stored as a message, with the reason and its raw JSON."""

    __tablename__ = "telegram_skipped_updates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    raw: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(index=True)


class TelegramMessageEdit(Base):
    """An edited Telegram message is stored as a new message; this links it to the original."""

    __tablename__ = "telegram_message_edits"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    original_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )


class TelegramLinkCode(Base):
    """A one-time code that links a Telegram account to a known customer. Only its hash is kept."""

    __tablename__ = "telegram_link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


# ---- Knowledge base (issue 5) ----


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class BotAnswerOutcome(enum.StrEnum):
    PENDING = "pending"
    HELPED = "helped"
    NOT_HELPED = "not_helped"
    SUPERSEDED = "superseded"


class Article(Base):
    """A knowledge-base article. `slug` names its file on import and export."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Questions customers ask that this article answers: what the ranking learns from.
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ArticleStatus] = mapped_column(
        _enum(ArticleStatus), default=ArticleStatus.DRAFT, index=True
    )
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbState(Base):
    """One row whose version grows with every change to the articles: each process rebuilds
    its suggestion index when it sees a version it has not built."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class BotAnswer(Base):
    """An article the bot sent on a ticket, and what the customer said about it."""

    __tablename__ = "kb_bot_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    confidence: Mapped[float]
    reason: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[BotAnswerOutcome] = mapped_column(
        _enum(BotAnswerOutcome), default=BotAnswerOutcome.PENDING
    )
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


# --- email channel (issue 3) ---


class EmailCheckpoint(Base):
    """How far a mailbox is imported; committed in the same transaction as the messages."""

    __tablename__ = "email_checkpoints"

    mailbox: Mapped[str] = mapped_column(String(64), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_import_at: Mapped[datetime | None]


class EmailReference(Base):
    """An RFC 5322 Message-ID stored on a ticket, so replies naming it thread there."""

    __tablename__ = "email_references"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rfc_message_id: Mapped[str] = mapped_column(String(255), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))


class EmailParticipant(Base):
    """Someone besides the customer on a ticket's mail (CC): may continue it by ticket number."""

    __tablename__ = "email_participants"
    __table_args__ = (UniqueConstraint("ticket_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class EmailQuarantine(Base):
    """A message that could not be imported: its raw bytes (in the attachment store, by sha256)
    and the reason, until an admin re-imports it."""

    __tablename__ = "email_quarantine"
    __table_args__ = (UniqueConstraint("mailbox", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    reimported_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))


class EmailAutoAck(Base):
    """An automatic acknowledgement sent: at most one per ticket, a few per sender and hour."""

    __tablename__ = "email_auto_acks"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(320), index=True)
    sent_at: Mapped[datetime]
