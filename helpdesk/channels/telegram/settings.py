"""The Telegram bot's settings: `[telegram]` in helpdesk.toml, `HELPDESK_TELEGRAM__*` variables.

Plain pydantic: reading them never imports aiogram.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TelegramSettings(BaseModel):
    """The Telegram bot; the channel is on when `token` is set."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field("", description="The bot token from BotFather; empty turns Telegram off")
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: str = Field(
        "https://api.telegram.org", description="Bot API server (self-hosted ones work too)"
    )
    webhook_url: str = Field("", description="Public URL of the webhook; default from public_url")
    webhook_secret: str = Field(
        "", description="X-Telegram-Bot-Api-Secret-Token; derived from secret_key if empty"
    )
    allow_groups: bool = Field(False, description="Also take messages from groups")
    max_file_bytes: int = Field(20 * 1024 * 1024, ge=0, description="Largest file fetched")
    max_text_chars: int = Field(16 * 1024, ge=1, description="Longer texts are skipped")
    poll_timeout_seconds: int = Field(25, ge=0, le=50)
    poll_limit: int = Field(100, ge=1, le=100)
    request_timeout_seconds: float = Field(30.0, gt=0)
    link_code_minutes: float = Field(30.0, gt=0, description="How long a linking code works")

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"\d+:[\w-]+", value):
            raise ValueError("must look like 123456789:AA... (the token BotFather gave you)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_chars(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ or -")
        return value
