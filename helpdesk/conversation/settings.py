"""What the helpdesk says by itself, on every channel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.tickets.models import DEFAULT_ROOT_CAUSES


class ConversationSettings(BaseModel):
    """What the helpdesk says by itself, on every channel."""

    model_config = ConfigDict(extra="forbid")

    satisfaction_survey: bool = Field(True, description="Ask for a 1-5 rating on resolution")
    survey_channels: list[str] = Field(
        default_factory=lambda: ["webchat", "telegram"],
        description="Channels that show rating buttons (email gets no survey)",
    )
    bot_channels: list[str] = Field(
        default_factory=lambda: ["webchat", "telegram"],
        description="Channels where the answer bot may reply to customers by itself",
    )
    complaint_detection: bool = Field(
        True, description="Mark customer messages that read like complaints for an agent"
    )
    complaint_threshold: float = Field(
        1.5, gt=0, description="Detector score from which a message is marked (bench/complaints.py)"
    )
    complaint_root_causes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROOT_CAUSES),
        min_length=1,
        description="Root causes an agent chooses from to resolve a complaint",
    )
