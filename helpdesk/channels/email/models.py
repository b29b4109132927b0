"""The email channel's own tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


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


class EmailOriginalDate(Base):
    """The Date header of an inbound mail whose time came from its arrival instead (a date in
    the future, or one that cannot be read): what the sender claimed, for agents to see."""

    __tablename__ = "email_original_dates"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    header: Mapped[str] = mapped_column(String(200))


class ParticipantRole:
    """What a participant is to the ticket's replies."""

    # On the Cc of every reply (up to `email.reply_participants_max`); may continue the ticket.
    COPIED = "copied"
    # Wrote into the ticket without being the customer or copied (threading by a Message-ID they
    # knew): stored, shown to agents, and copied only once an agent accepts.
    REQUEST = "request"
    # Taken off the replies by an agent; a later Cc does not put them back.
    REMOVED = "removed"


class EmailParticipant(Base):
    """Someone besides the customer on a ticket's mail (CC): may continue it by ticket number."""

    __tablename__ = "email_participants"
    __table_args__ = (UniqueConstraint("ticket_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    role: Mapped[str] = mapped_column(
        String(16), default=ParticipantRole.COPIED, server_default=ParticipantRole.COPIED
    )


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
