"""The agents' workspace pages: queue size, what "due soon" means, idle and collision timing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_page_size: int = Field(50, ge=5, le=200, description="Tickets on one page of the queue")
    due_soon_minutes: float = Field(
        60.0,
        gt=0,
        description='The queue\'s "SLA due soon" filter: a running timer due within '
        "this many minutes",
    )
    away_after_idle_seconds: float = Field(
        300.0,
        ge=30,
        description="An open workspace with no key or pointer use for this long sets the "
        "agent away",
    )
    heartbeat_seconds: float = Field(
        20.0, ge=2, le=300, description="How often an open workspace sends the presence heartbeat"
    )
    viewer_timeout_seconds: float = Field(
        15.0,
        ge=3,
        le=300,
        description="A ticket page that has not said it is open for this long no longer counts "
        "as viewing it (collision detection)",
    )
    typing_timeout_seconds: float = Field(
        6.0, ge=1, le=60, description="Typing shows this long after the last keystroke"
    )
