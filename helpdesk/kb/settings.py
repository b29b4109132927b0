"""The knowledge base and its answer bot."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KbSettings(BaseModel):
    """Knowledge base (issue 5)."""

    model_config = ConfigDict(extra="forbid")

    bot_enabled: bool = Field(
        True, description="The answer bot replies on chat channels once articles are published"
    )
    bot_threshold: float = Field(
        0.63,
        ge=0,
        le=1,
        description="Least confidence (the refusal model's probability that the best article "
        "is right) for an automatic answer; chosen by cross-validation with whole intents held "
        "out (bench/kb_open_set.py, docs/knowledge-base.md)",
    )
    linear_max_articles: int = Field(
        1500, ge=0, description="Up to this many articles the ranking trains linear models"
    )
    report_scan: int = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="The bot report groups at most this many of the latest refused questions",
    )
