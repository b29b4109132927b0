"""The web chat's settings: `[webchat]` in helpdesk.toml, `HELPDESK_WEBCHAT__*` variables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebchatSettings(BaseModel):
    """Limits on what a chat visitor may send, and how long its chat token lasts."""

    model_config = ConfigDict(extra="forbid")

    max_text_bytes: int = Field(16 * 1024, ge=1, description="Largest chat message, in bytes")
    max_frame_bytes: int = Field(64 * 1024, ge=1024, description="Largest websocket frame")
    rate_messages: int = Field(10, ge=1, description="Messages allowed per rate window")
    rate_window_seconds: float = Field(10.0, gt=0)
    token_max_age_days: int = Field(30, ge=1)
    history_limit: int = Field(200, ge=1, le=5000)
