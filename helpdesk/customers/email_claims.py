"""Email addresses customers gave without proving them (typed into the chat), and the codes sent
to prove them.

A claim is not an identity: identities are unique per (channel, address) and intake files mail
from an address onto the identity's customer, so an unproven address stored as an identity would
let anyone who types it receive or read someone else's conversation. A claim joins nothing,
routes nothing and receives nothing of the customer's; several customers may claim one address.
Only the code mailed to it, typed back in time, turns it into a verified identity
(`email_proof.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


class EmailClaim(Base):
    """One customer's unproven claim to one address, and the code that would prove it."""

    __tablename__ = "email_claims"
    __table_args__ = (UniqueConstraint("customer_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Normalised (lower case), as email identities store it.
    address: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]
    # An HMAC of the code under the server's secret: the database alone does not reveal it.
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None]
    # Wrong codes typed since the last code was sent.
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class EmailCodeSend(Base):
    """A code mailed: counted per requester (one chat) and per address to limit sending."""

    __tablename__ = "email_code_sends"
    __table_args__ = (
        Index("ix_email_code_sends_requester_sent_at", "requester", "sent_at"),
        Index("ix_email_code_sends_address_sent_at", "address", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    requester: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime]
