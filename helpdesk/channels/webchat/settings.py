"""The web chat's settings: `[webchat]` in helpdesk.toml, `HELPDESK_WEBCHAT__*` variables."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Ask = Literal["off", "optional", "required"]


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
    # Who the chat customer is (docs/customers.md): a name and an email, asked by the widget
    # and enforced by the server when required; an email joins histories only once proven.
    ask_name: Ask = Field("off", description="Ask the customer's name: off, optional or required")
    ask_email: Ask = Field("off", description="Ask the customer's email: off, optional or required")
    ask_when: Literal["before_chat", "on_handover"] = Field(
        "before_chat",
        description="Ask before the first message, or when a person takes over from the bot",
    )
    email_code_minutes: int = Field(
        15, ge=1, le=1440, description="How long a code mailed to prove an email is valid"
    )
    email_code_attempts: int = Field(
        5, ge=1, le=20, description="Wrong codes allowed before a new code must be sent"
    )
    email_codes_per_chat: int = Field(
        3, ge=1, description="Codes one chat may have mailed per code window"
    )
    email_codes_per_address: int = Field(
        5, ge=1, description="Codes one email address may be sent per code window, by any chat"
    )
    email_code_window_minutes: int = Field(60, ge=1, description="The window of those limits")
