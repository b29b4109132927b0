"""Tickets agents open through the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TicketSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opening_batch_size: int = Field(
        64,
        ge=1,
        le=1000,
        description="SQLite: tickets agents open at the same moment committed in one "
        "transaction (each stays atomic and gets its own answer; 1 commits each alone)",
    )
