"""The web chat's own table: revoked chat visitors. A chat token is signed, not stored, so a
revocation names the visitor the token speaks for; every token for it stops working."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


class ChatRevocation(Base):
    __tablename__ = "webchat_revocations"

    visitor: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("agents.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text, default="")
