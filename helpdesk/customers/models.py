"""Customers and the identities (addresses) they are known by on each channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.storage.base import Base, BigId


class Account(Base):
    """A company: its contacts share its tier and its relationship manager."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name folded to lower case: one account per name whatever its case.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The id the account has in the system it was imported from; re-imports update, not add.
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    value: Mapped[float | None] = mapped_column(Float)
    # `tier` is computed by rule; `tier_override`, set by an admin, wins over it.
    tier: Mapped[str | None] = mapped_column(String(16))
    tier_override: Mapped[str | None] = mapped_column(String(16))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(16))
    # The tier computed by rule (`customers.tiers` names them); see `standing.py` for the one
    # that applies. Stored as text since 0001 (a non-native enum), so the names are free.
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    created_at: Mapped[datetime]
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    value: Mapped[float | None] = mapped_column(Float)
    tier_override: Mapped[str | None] = mapped_column(String(16))
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    # Set when the customer's personal data was erased (`customers/erasure.py`): the row stays,
    # anonymous, so that reports still count their tickets.
    erased_at: Mapped[datetime | None]
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
    # False for an address the customer typed but has not proven (an email given in the chat):
    # shown to agents as unverified, and it joins no history until proven.
    verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    customer: Mapped[Customer] = relationship(back_populates="identities")


class TierChange(Base):
    """Every change of a customer's or an account's tier, with its reason."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    from_tier: Mapped[str | None] = mapped_column(String(16))
    to_tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None]
    at: Mapped[datetime]
