"""How the delivery worker retries and leases its work."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OutboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(10, ge=1)
    backoff_base_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(600.0, gt=0)
    poll_seconds: float = Field(1.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(100, ge=1)
    # Rounds under way at once in each process (each claims its own items).
    parallel_rounds: int = Field(2, ge=1, le=16)
