"""Operations: `[operations]` in helpdesk.toml, `HELPDESK_OPERATIONS__*` variables
(docs/deployment.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class OperationsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line, with request and message ids"
    )
    trace_messages: bool = Field(
        False,
        description="Log one line per message received, reply queued and delivery change, "
        "keyed by ticket and message id",
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token for /metrics; when empty, /metrics answers loopback clients only",
    )
    shutdown_seconds: float = Field(
        20.0, gt=1, description="On SIGTERM the process exits within this time"
    )
    ready_outbox_max_age_seconds: float = Field(
        600.0, gt=0, description="Readiness fails when a reply has waited this long to be sent"
    )
