"""Routing: presence timing, key accounts' wait, capacity defaults, and the configured rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from helpdesk.routing.rules import CONDITIONS


class RuleSettings(BaseModel):
    """A rule in the configuration file; tried before the rules kept through the API."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100)
    # Every condition given must hold; see docs/routing.md for their names.
    when: dict[str, str | bool | list[str]] = Field(default_factory=dict)
    team: str | None = Field(None, description="The team's name")
    skills: list[str] = Field(default_factory=list)
    priority: Literal["low", "normal", "high", "urgent"] | None = None

    @field_validator("when")
    @classmethod
    def _known_conditions(
        cls, value: dict[str, str | bool | list[str]]
    ) -> dict[str, str | bool | list[str]]:
        unknown = set(value) - CONDITIONS
        if unknown:
            raise ValueError(
                f"unknown condition {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(CONDITIONS))}"
            )
        return value


class RoutingSettings(BaseModel):
    """Who gets a ticket (issue 14)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Assign tickets automatically")
    heartbeat_timeout_seconds: float = Field(
        90.0, gt=0, description="An agent without a heartbeat this long is taken as offline"
    )
    offline_grace_seconds: float = Field(
        300.0,
        ge=0,
        description="An agent offline this long has their unanswered tickets re-routed",
    )
    key_account_wait_minutes: float = Field(
        30.0,
        ge=0,
        description="A key account's ticket waits this long for its offline manager",
    )
    default_capacity: int = Field(10, ge=0, description="Open tickets an agent takes at most")
    channel_weights: dict[str, int] = Field(
        default_factory=lambda: {"webchat": 2, "telegram": 2},
        description="How much one open ticket of a channel counts against a capacity "
        "(default 1); an agent's own weights override these",
    )
    sweep_seconds: float = Field(
        5.0, gt=0, description="How often presence and key-account waits are checked"
    )
    drain_batch: int = Field(
        500, ge=1, description="Held tickets assigned per transaction when the queue drains"
    )
    rules: list[RuleSettings] = Field(default_factory=list)
