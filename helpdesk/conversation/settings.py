"""What the helpdesk says by itself, on every channel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
