"""What the accounts-and-tiers API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.web.schemas import MAX_ID, CleanStr

Value = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
TierName = Annotated[str, Field(min_length=1, max_length=16)]
AgentRef = Annotated[int, Field(ge=1, le=MAX_ID)]
Note = Annotated[CleanStr, Field(max_length=500)]


class AccountFields(BaseModel):
    """Omitted fields stay as they are; null clears one."""

    model_config = ConfigDict(extra="forbid")
    external_ref: Annotated[CleanStr, Field(min_length=1, max_length=100)] | None = None
    value: Value | None = None
    manager_id: AgentRef | None = None
    backup_id: AgentRef | None = None
    tier_override: TierName | None = None
    note: Note = ""


class AccountIn(AccountFields):
    name: Annotated[CleanStr, Field(min_length=1, max_length=200)]


class AccountPatch(AccountFields):
    name: Annotated[CleanStr, Field(min_length=1, max_length=200)] | None = None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    external_ref: str | None
    value: float | None
    tier: str | None = Field(description="Computed from value by rule")
    tier_override: str | None
    effective_tier: str | None = Field(None, description="The one that applies: override first")
    manager_id: int | None
    backup_id: int | None
    contacts: int = 0
    created_at: datetime
    updated_at: datetime


class AccountPage(BaseModel):
    accounts: list[AccountOut]
    next_after_id: int | None = Field(None, description="Pass as after_id for the next page")


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    email: str | None
    value: float | None
    tier_override: str | None


class StandingPatch(BaseModel):
    """Omitted fields stay as they are; `account_id: null` takes the customer out of their
    account, `tier_override: null` lets the rule decide again."""

    model_config = ConfigDict(extra="forbid")
    value: Value | None = None
    tier_override: TierName | None = None
    account_id: AgentRef | None = None
    note: Note = ""


class StandingOut(BaseModel):
    customer_id: int
    value: float | None
    tier: str | None = Field(description="The customer's own tier, computed from value by rule")
    tier_override: str | None
    effective_tier: str | None = Field(description="The one that applies to their tickets")
    account_id: int | None
    account_name: str | None
    account_manager_id: int | None
    account_backup_id: int | None


class TierChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    customer_id: int | None
    account_id: int | None
    from_tier: str | None
    to_tier: str
    reason: str
    actor_id: int | None
    at: datetime


class RecomputeOut(BaseModel):
    units: int = Field(description="Accounts and customers outside an account")
    changed: int
    seconds: float
    tiers: dict[str, int] = Field(description="Units in each tier, highest first")
