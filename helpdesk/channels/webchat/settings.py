"""The web chat's settings: `[webchat]` in helpdesk.toml, `HELPDESK_WEBCHAT__*` variables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebchatSettings(BaseModel):
    """Limits on what a chat visitor may send and open, where from, and how long its token lasts."""

    model_config = ConfigDict(extra="forbid")

    max_text_bytes: int = Field(16 * 1024, ge=1, description="Largest chat message, in bytes")
    max_frame_bytes: int = Field(64 * 1024, ge=1024, description="Largest websocket frame")
    rate_messages: int = Field(10, ge=1, description="Messages allowed per rate window")
    rate_window_seconds: float = Field(10.0, gt=0)
    rate_frames: int = Field(
        60, ge=1, description="Frames of any kind per rate window; past it the socket is closed"
    )
    sessions_per_address: int = Field(
        20, ge=1, description="New chat sessions one client address may start per window"
    )
    sessions_window_seconds: float = Field(60.0, gt=0)
    sockets_per_address: int = Field(
        20, ge=0, description="Chat sockets one client address may hold open; 0: no cap"
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Sites whose pages may open the chat, besides the public URL; '*': any",
    )
    token_max_age_days: int = Field(30, ge=1)
    history_limit: int = Field(200, ge=1, le=5000)
