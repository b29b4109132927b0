"""What the routing API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.routing.models import Presence, Strategy
from helpdesk.web.schemas import MAX_ID, CleanStr

# A condition's value: a word, a list of words, or a flag (see helpdesk/routing/rules.py).
Condition = CleanStr | bool | list[CleanStr]
Word = Annotated[CleanStr, Field(min_length=1, max_length=64)]


class ProfileIn(BaseModel):
    """Omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    skills: list[Word] | None = Field(None, max_length=100)
    languages: list[Word] | None = Field(None, max_length=50)
    channels: list[Word] | None = Field(None, max_length=20)
    capacity: int | None = Field(None, ge=0, le=10_000)
    channel_weights: dict[Word, int] | None = Field(None, max_length=20)
    weight: int | None = Field(None, ge=1, le=100)
    shift_start: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")
    shift_end: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")
    shift_timezone: CleanStr | None = Field(None, min_length=1, max_length=64)
    clear_shift: bool = False


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    agent_id: int
    skills: list[str]
    languages: list[str]
    channels: list[str]
    capacity: int
    channel_weights: dict[str, int]
    weight: int
    presence: Presence
    effective_presence: Presence = Presence.OFFLINE
    heartbeat_at: datetime | None
    shift_start: str | None
    shift_end: str | None
    shift_timezone: str
    load: int


class PresenceIn(BaseModel):
    presence: Presence


class ManagersIn(BaseModel):
    manager_id: int | None = Field(None, ge=1, le=MAX_ID)
    backup_id: int | None = Field(None, ge=1, le=MAX_ID)
    key_account: bool = False


class ManagersOut(ManagersIn):
    customer_id: int


class HandoverIn(BaseModel):
    to_agent_id: int = Field(ge=1, le=MAX_ID)
    note: CleanStr = Field("", max_length=2000)


class HandoverOut(BaseModel):
    id: int
    from_agent_id: int
    to_agent_id: int
    customer_ids: list[int]
    at: datetime


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CleanStr = Field(min_length=1, max_length=100)
    position: int = Field(100, ge=0, le=1_000_000)
    conditions: dict[str, Condition] = Field(default_factory=dict, max_length=10)
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    skills: list[Word] = Field(default_factory=list, max_length=20)
    priority: str | None = Field(None, pattern=r"^(low|normal|high|urgent)$")


class RuleOut(RuleIn):
    id: int
    source: str = "api"


class StrategyIn(BaseModel):
    strategy: Strategy


class AssignIn(BaseModel):
    agent_id: int = Field(ge=1, le=MAX_ID)
    note: CleanStr = Field("", max_length=500)


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    outcome: str
    agent_id: int | None
    actor_id: int | None
    trigger: str
    reason: str


class HeldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ticket_id: int
    urgency: int
    held_since: datetime
    team_id: int | None
    wait_for_id: int | None
    wait_until: datetime | None
    reason: str


class UnattendedOut(BaseModel):
    ticket_id: int
    channel: str
    status: str
    created_at: datetime
