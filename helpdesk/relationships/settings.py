"""Loyalty and the signals that put tasks on relationship managers' lists (issue 16)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RelationshipSettings(BaseModel):
    """How loyalty is judged and when a manager is told about a customer."""

    model_config = ConfigDict(extra="forbid")

    loyalty_window_days: int = Field(
        180, ge=1, le=3650, description="Ratings and complaints this recent classify loyalty"
    )
    signals: bool = Field(True, description="Put relationship tasks on managers' lists")
    scan_minutes: float = Field(
        60, ge=1, description="How often every customer is checked for signals"
    )
    no_contact_days: int = Field(
        30, ge=1, description="A key account not heard from (or written to) this long: a task"
    )
    complaints: int = Field(
        2, ge=1, description="This many complaints within `complaints_window_days`: a task"
    )
    complaints_window_days: int = Field(90, ge=1)
    low_rating: int = Field(
        2, ge=1, le=5, description="A 1-5 rating at or below this counts as low satisfaction"
    )
    low_ratings: int = Field(
        1, ge=1, description="This many low ratings within `low_rating_window_days`: a task"
    )
    low_rating_window_days: int = Field(90, ge=1)
    reopens: int = Field(
        2, ge=1, description="This many reopened tickets within `reopens_window_days`: a task"
    )
    reopens_window_days: int = Field(60, ge=1)
