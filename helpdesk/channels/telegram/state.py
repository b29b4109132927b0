"""What the Telegram channel is doing, for admins: mode, last update, last error, webhook."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class ChannelState:
    mode: str
    bot_username: str | None = None
    running: bool = False
    next_offset: int | None = None
    last_update_id: int | None = None
    last_update_at: datetime | None = None
    # The last getUpdates (or webhook set-up) that succeeded, with or without updates, and
    # whether a call has failed since (readiness reads it).
    last_ok_at: datetime | None = None
    failing: bool = False
    last_error: str | None = None
    last_error_at: datetime | None = None
    updates: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    webhook: dict[str, Any] | None = None

    def error(self, text: str, at: datetime) -> None:
        self.last_error, self.last_error_at = text[:500], at
        self.failing = True

    def succeeded(self, at: datetime) -> None:
        self.last_ok_at, self.failing = at, False

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "bot_username": self.bot_username,
            "running": self.running,
            "next_offset": self.next_offset,
            "last_update_id": self.last_update_id,
            "last_update_at": self.last_update_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "updates": self.updates,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": dict(self.skipped),
            "webhook": self.webhook,
        }
