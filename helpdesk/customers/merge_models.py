"""What a merge of two customers leaves behind so it can be undone, and the duplicate
suggestions agents dismissed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId


class CustomerMerge(Base):
    """One customer merged into another: who, when, why, the source's own fields and the
    target's fields it filled in. The rows that moved are `CustomerMergeRow`s.

    Neither customer id is a foreign key: the source is deleted by the merge, and the target
    may later be merged on itself; the record outlives both."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(BigInteger, index=True)
    target_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # "agent" or "system" (a Telegram link code, a proven email address).
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    # The source customer's columns as they were (`merge.snapshot`), to recreate it on undo.
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Target columns that were empty and took the source's value: {column: value taken}.
    filled: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Rows of one-per-customer tables the source had and the target had too (the target kept
    # its own): {table: [row as stored]}, put back on undo.
    kept: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # The id the source customer has again after the undo (its old one whenever it was free).
    restored_id: Mapped[int | None] = mapped_column(BigInteger)


class CustomerMergeRow(Base):
    """One row that moved from the source to the target in a merge, by its table and key."""

    __tablename__ = "customer_merge_rows"

    merge_id: Mapped[int] = mapped_column(
        ForeignKey("customer_merges.id", ondelete="CASCADE"), primary_key=True
    )
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class DuplicateDismissal(Base):
    """An agent said these two customers are different people: never suggested again. The pair
    is stored lower id first."""

    __tablename__ = "duplicate_dismissals"
    __table_args__ = (UniqueConstraint("first_id", "second_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    second_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    dismissed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
