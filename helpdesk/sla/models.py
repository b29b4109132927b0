"""Durable SLA timers and the escalations they raise."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId, enum_column


class TimerStatus(enum.StrEnum):
    RUNNING = "running"
    # The ticket waits on the customer: business time does not count.
    PAUSED = "paused"
    # A real agent reply (or the resolution) came; `breached_at` says whether it came late.
    MET = "met"
    # The ticket was resolved or closed before the response this timer waited for.
    STOPPED = "stopped"


ACTIVE = (TimerStatus.RUNNING, TimerStatus.PAUSED)


class SlaTimer(Base):
    """One target on one ticket. Business time used is kept up to `resumed_at`; while running,
    `next_fire_at` is the UTC instant of the next ladder step (the scheduler's one index)."""

    __tablename__ = "sla_timers"
    __table_args__ = (
        Index("ix_sla_timers_next_fire_at", "next_fire_at"),
        Index("ix_sla_timers_reassure_at", "reassure_at"),
        Index("ix_sla_timers_ticket_id_metric", "ticket_id", "metric"),
        # The workspace's queue reads running timers in due order (tickets/worklist.py).
        Index("ix_sla_timers_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(64))
    calendar: Mapped[str] = mapped_column(String(64))
    # The policy's and calendar's fingerprint when computed; a mismatch at start recomputes.
    fingerprint: Mapped[str] = mapped_column(String(32))
    status: Mapped[TimerStatus] = mapped_column(enum_column(TimerStatus))
    target_seconds: Mapped[float] = mapped_column(Float)
    used_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime]
    # Set while running: business time since then is used on top of `used_seconds`.
    resumed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    next_fire_at: Mapped[datetime | None]
    # How many steps of the ladder (warning, breach, further) have fired.
    step: Mapped[int] = mapped_column(Integer, default=0)
    breached_at: Mapped[datetime | None]
    # When a response timer tells the customer "we have not forgotten you" (once), if enabled.
    reassure_at: Mapped[datetime | None]
    reassured_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Escalation(Base):
    """A step of the ladder fired for a ticket: who is told, why, and who acknowledged it."""

    __tablename__ = "sla_escalations"
    __table_args__ = (Index("ix_sla_escalations_notify_after", "notify_after"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    timer_id: Mapped[int | None] = mapped_column(ForeignKey("sla_timers.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    # The agents told (ids), chosen when it was raised.
    recipients: Mapped[list[int]] = mapped_column(JSON)
    raised_at: Mapped[datetime]
    # Notices outside business hours wait for the morning unless the policy says otherwise.
    notify_after: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
