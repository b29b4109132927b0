"""Customers and the identities (addresses) they are known by on each channel."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.storage.base import Base, BigId, enum_column


class CustomerTier(enum.StrEnum):
    STANDARD = "standard"
    KEY = "key"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(16))
    tier: Mapped[CustomerTier] = mapped_column(
        enum_column(CustomerTier), default=CustomerTier.STANDARD
    )
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
