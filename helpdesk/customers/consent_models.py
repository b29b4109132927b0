"""Consent to proactive messages, per customer and channel: every grant and withdrawal is a
row, so the latest one says where we stand and the earlier ones show how we got there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


class ConsentSource:
    """How a consent was given or withdrawn."""

    # An agent recorded what the customer said (on the phone, in a message), with a note.
    AGENT = "agent"
    # The customer themselves: a command or keyword on the channel (Telegram /stop).
    CUSTOMER = "customer"
    # Brought in from another system.
    IMPORT = "import"
    # The helpdesk itself (erasure withdraws every consent).
    SYSTEM = "system"


CONSENT_SOURCES = (
    ConsentSource.AGENT,
    ConsentSource.CUSTOMER,
    ConsentSource.IMPORT,
    ConsentSource.SYSTEM,
)


class Consent(Base):
    """One grant or withdrawal of consent to messages the customer did not ask for."""

    __tablename__ = "customer_consents"
    __table_args__ = (Index("ix_customer_consents_customer_channel", "customer_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    # The agent who recorded it; None when the customer or the system did.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # How it was given, in the agent's words ("asked on the phone on 3 March").
    note: Mapped[str] = mapped_column(Text, default="")
