"""The event log's retention and how reactions read it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EventSettings(BaseModel):
    """The durable event log and the reactions that read it."""

    model_config = ConfigDict(extra="forbid")

    retention_hours: float = Field(
        72.0, gt=0, description="Events every reaction has handled are deleted after this long"
    )
    batch_size: int = Field(200, ge=1, description="Events one reaction handles per transaction")
    poll_seconds: float = Field(
        1.0, gt=0, description="Reactions look at the log this often even without a wake-up"
    )
    # 0.1: measured against 0.05 on the ticket-creation bench, a round's fixed cost (reading
    # rules, agents, checkpoints) over twice the events; a reaction is at most this late.
    round_interval_seconds: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Under load a reaction's rounds (and a process's broadcasts to its live "
        "feeds) start at least this far apart, so that one round (one read, one transaction) "
        "handles every event committed meanwhile; the first event after a quiet spell is "
        "handled at once",
    )
    retry_attempts: int = Field(
        5, ge=1, description="Tries of a failing reaction before its event is set aside"
    )
