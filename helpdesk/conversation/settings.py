"""What the helpdesk says by itself, on every channel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.tickets.models import DEFAULT_ROOT_CAUSES


class ConversationSettings(BaseModel):
    """What the helpdesk says by itself, on every channel."""

    model_config = ConfigDict(extra="forbid")

    satisfaction_survey: bool = Field(True, description="Ask for a 1-5 rating on resolution")
    survey_channels: list[str] = Field(
        default_factory=lambda: ["webchat", "telegram", "email"],
        description="Channels asked on resolution: buttons on chats, a mail of links on email",
    )
    recommend_question: bool = Field(
        False, description="After the 1-5 rating, ask how likely (0-10) they would recommend us"
    )
    survey_link_days: int = Field(
        14, ge=1, le=365, description="How long the links of an email survey work"
    )
    rating_change_minutes: int = Field(
        30,
        ge=0,
        le=1440,
        description="How long after an email rating the page still takes a change or a comment",
    )
    survey_comment_max_chars: int = Field(
        2000, ge=1, le=20000, description="The longest comment the survey page keeps"
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
