"""Tasks that relationship signals put on a manager's list."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


class TaskKind(enum.StrEnum):
    NO_CONTACT = "no_contact"
    COMPLAINTS = "complaints"
    LOW_SATISFACTION = "low_satisfaction"
    REOPENS = "reopens"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    DISMISSED = "dismissed"


class RelationshipTask(Base):
    """Something a relationship manager should do about a customer or an account, and why.

    `subject` names who it is about ("customer:12" or "account:3"): at most one open task per
    subject and kind, enforced by a partial unique index so that two processes scanning at
    once add it once."""

    __tablename__ = "relationship_tasks"
    __table_args__ = (
        Index("ix_relationship_tasks_manager_status", "manager_id", "status"),
        Index(
            "uq_relationship_tasks_open",
            "subject",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    note: Mapped[str | None] = mapped_column(Text)
