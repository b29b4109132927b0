"""Customers and accounts: the tiers value puts them in (issue 16)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TierRule(BaseModel):
    """One tier: the customers that together bring `value_share` of the value, counted from the
    most valuable down, after the tiers above it took theirs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=16, pattern=r"^[a-z0-9_-]+$")
    value_share: float = Field(..., gt=0, le=1)


class CustomersSettings(BaseModel):
    """Who the customers are and what they are worth."""

    model_config = ConfigDict(extra="forbid")

    # Highest first. The first tier is the key accounts' (tighter targets, a named manager);
    # the last takes everyone else. By default the Pareto rule: the fewest customers that
    # bring 80% of the value are key accounts.
    tiers: list[TierRule] = Field(
        default_factory=lambda: [
            TierRule(name="key", value_share=0.8),
            TierRule(name="standard", value_share=1.0),
        ],
        min_length=2,
    )
    tier_recompute_hours: float = Field(
        24.0,
        ge=0,
        description="Recompute every tier from value this often (0: only on demand, "
        "`POST /api/customers/tiers/recompute` or `helpdesk customers tiers recompute`)",
    )

    @model_validator(mode="after")
    def _tiers_in_order(self) -> CustomersSettings:
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must differ: {', '.join(names)}")
        shares = [tier.value_share for tier in self.tiers]
        if shares != sorted(shares) or len(set(shares)) != len(shares):
            raise ValueError("each tier's value_share must be larger than the one above it")
        if shares[-1] != 1:
            raise ValueError("the last tier takes everyone left: its value_share must be 1")
        return self

    @property
    def key_tier(self) -> str:
        return self.tiers[0].name

    @property
    def default_tier(self) -> str:
        return self.tiers[-1].name

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]
