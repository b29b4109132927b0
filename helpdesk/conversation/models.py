"""What the conversation layer remembers: acknowledgements sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base


class Acknowledgement(Base):
    """An automatic acknowledgement sent: at most one per ticket, a few per sender and hour."""

    __tablename__ = "acknowledgements"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320), index=True)
    sent_at: Mapped[datetime]
