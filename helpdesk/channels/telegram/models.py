"""The Telegram channel's own tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


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


class TelegramStaffLink(Base):
    """A member of staff's Telegram account, linked with a one-time code from the API, where
    escalation notices reach them."""

    __tablename__ = "telegram_staff_links"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    # The Telegram user id; a private chat's id equals it.
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    linked_at: Mapped[datetime]


class TelegramStaffCode(Base):
    """A one-time code that links a Telegram account to a member of staff. Only its hash is
    kept."""

    __tablename__ = "telegram_staff_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
