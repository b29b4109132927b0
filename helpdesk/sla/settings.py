"""Service-level settings: calendars, policies and the scheduler's limits (docs/sla.md)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from helpdesk.sla.calendar import WEEKDAYS, CalendarError, Period


class CalendarSettings(BaseModel):
    """Opening hours in a time zone, and the days the company is closed."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="An IANA zone, e.g. Europe/Berlin")
    # Weekday ("mon".."sun") -> periods like "09:00-17:00"; "22:00-06:00" runs overnight.
    hours: dict[str, list[str]] = Field(
        default_factory=lambda: {day: ["00:00-24:00"] for day in WEEKDAYS}
    )
    country: str | None = Field(None, description="Public holidays of this country (ISO code)")
    subdivision: str | None = Field(None, description="State or region for its holidays")
    closed_dates: list[date] = Field(default_factory=list, description="The company's own days")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("hours")
    @classmethod
    def _periods(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, periods in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            for period in periods:
                try:
                    Period.parse(period)
                except CalendarError as exc:
                    raise ValueError(str(exc)) from None
        return value


class PolicySettings(BaseModel):
    """Targets for the tickets it matches; an empty match list matches everything."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kinds: list[str] = Field(default_factory=list, description="question, request, complaint")
    priorities: list[str] = Field(default_factory=list, description="low, normal, high, urgent")
    tiers: list[str] = Field(default_factory=list, description="standard, key")
    first_response_hours: float = Field(gt=0)
    next_response_hours: float = Field(gt=0)
    resolution_hours: float = Field(gt=0)
    warning_share: float = Field(0.8, gt=0, lt=1, description="Warn the assignee at this share")
    further_after_hours: float = Field(
        4.0, gt=0, description="After a breach, every supervisor is told this much later"
    )
    reassign_on_further: bool = Field(False, description="The further step unassigns the ticket")
    notify_outside_hours: bool = Field(
        False, description="Send escalation notices at once even when the calendar is closed"
    )


def default_policies() -> list[PolicySettings]:
    """Why each default: docs/sla.md, "Default policies"."""
    return [
        PolicySettings(
            name="key-account-complaint",
            kinds=["complaint"],
            tiers=["key"],
            first_response_hours=2,
            next_response_hours=4,
            resolution_hours=48,
            further_after_hours=1,
            notify_outside_hours=True,
        ),
        PolicySettings(
            name="complaint",
            kinds=["complaint"],
            first_response_hours=4,
            next_response_hours=8,
            resolution_hours=72,
            further_after_hours=2,
        ),
        PolicySettings(
            name="key-account",
            tiers=["key"],
            first_response_hours=4,
            next_response_hours=8,
            resolution_hours=72,
        ),
        PolicySettings(
            name="urgent",
            priorities=["urgent"],
            first_response_hours=4,
            next_response_hours=8,
            resolution_hours=48,
        ),
        PolicySettings(
            name="standard",
            first_response_hours=24,
            next_response_hours=24,
            resolution_hours=120,
        ),
    ]


class SlaSettings(BaseModel):
    """Service levels: calendars, policies, and who gets which calendar."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Start timers for new tickets and run the scheduler")
    calendars: dict[str, CalendarSettings] = Field(
        default_factory=lambda: {"default": CalendarSettings()},
        description="Named calendars; 'default' is used where nothing else is named",
    )
    team_calendars: dict[str, str] = Field(
        default_factory=dict, description="Team name -> calendar name"
    )
    tier_calendars: dict[str, str] = Field(
        default_factory=dict, description="Customer tier -> calendar name (wins over the team's)"
    )
    policies: list[PolicySettings] = Field(
        default_factory=default_policies, description="First match wins; keep a catch-all last"
    )
    repeat_complaint_days: float = Field(
        30.0, gt=0, description="A second complaint within this many days escalates at once"
    )
    complaint_follow_up_days: float = Field(
        3.0, ge=0, description="Ask whether a complaint's fix worked this long after; 0: never"
    )
    reassure_after_hours: float = Field(
        0.0,
        ge=0,
        description="Tell a customer 'we have not forgotten you' after this many business hours "
        "waiting for a response; 0: never",
    )
    claim_batch: int = Field(100, ge=1, le=10_000, description="Due timers fired per transaction")
    max_sleep_seconds: float = Field(
        3600.0, gt=0, description="The scheduler's longest sleep when nothing wakes it"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SlaSettings:
        if "default" not in self.calendars:
            raise ValueError("calendars must include one named 'default'")
        for where, mapping in (("team", self.team_calendars), ("tier", self.tier_calendars)):
            for key, name in mapping.items():
                if name not in self.calendars:
                    raise ValueError(f"{where} {key!r} names an unknown calendar {name!r}")
        if not self.policies:
            raise ValueError("at least one policy is needed")
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("two policies have the same name")
        last = self.policies[-1]
        if last.kinds or last.priorities or last.tiers:
            raise ValueError("the last policy must match every ticket (no kinds/priorities/tiers)")
        return self
