"""The web server's protections: `[protection]` in helpdesk.toml, `HELPDESK_PROTECTION__*`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProtectionSettings(BaseModel):
    """Limits that keep one client from taking the service from everyone else."""

    model_config = ConfigDict(extra="forbid")

    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send a whole request head"
    )
    max_connections_per_address: int = Field(
        64, ge=0, description="Open connections one client address may hold; 0: no cap"
    )
    max_connections: int = Field(
        0, ge=0, description="Open connections in all; 0: derived from the open-file limit"
    )
    open_file_limit: int = Field(
        65536, ge=0, description="Raise the soft open-file limit to this at start; 0: leave it"
    )
    password_hash_concurrency: int = Field(
        1, ge=1, description="Password hashes computed at once (each takes 64 MiB and a core)"
    )
    password_hash_queue: int = Field(
        16, ge=0, description="Password checks that may wait for a slot; beyond them: 503"
    )
    hsts_max_age_seconds: int = Field(
        31_536_000, ge=0, description="Strict-Transport-Security when the public URL is https"
    )
    frame_ancestors: list[str] = Field(
        default_factory=list, description="Sites allowed to frame the helpdesk's pages"
    )
