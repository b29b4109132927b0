"""How intake picks tickets and batches arrivals."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reopen_window_hours: float = Field(
        72.0, ge=0, description="A resolved ticket reopens on a new message within this window"
    )
    batch_size: int = Field(
        200, ge=1, description="Messages committed together under load (each stays atomic)"
    )
    batch_interval_ms: float = Field(
        10,
        ge=0,
        le=1000,
        description="SQLite: least time between the starts of two batches (a message after a "
        "pause never waits for it)",
    )
