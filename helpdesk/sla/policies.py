"""SLA policies: which targets a ticket gets, and which calendar its business time runs on.

A policy is a small named unit that matches a ticket by kind, priority and customer tier and says
why it matched; the first match wins (the settings keep a catch-all last).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from helpdesk.sla.calendar import BusinessCalendar, build_calendar
from helpdesk.sla.settings import PolicySettings, SlaSettings


class Metric(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class Level(enum.StrEnum):
    """The ladder: a warning to the assignee, the breach to the team's supervisors, a further
    step to every supervisor; a repeated complaint goes straight to the supervisors."""

    WARNING = "warning"
    BREACH = "breach"
    FURTHER = "further"
    REPEAT_COMPLAINT = "repeat_complaint"


# Timer steps, in order: the timer's `step` counts how many have fired.
LADDER = (Level.WARNING, Level.BREACH, Level.FURTHER)


@dataclass(frozen=True, slots=True)
class Policy:
    settings: PolicySettings

    @property
    def name(self) -> str:
        return self.settings.name

    def target(self, metric: Metric) -> timedelta:
        hours = {
            Metric.FIRST_RESPONSE: self.settings.first_response_hours,
            Metric.NEXT_RESPONSE: self.settings.next_response_hours,
            Metric.RESOLUTION: self.settings.resolution_hours,
        }[metric]
        return timedelta(hours=hours)

    def thresholds(self, metric: Metric) -> tuple[timedelta, ...]:
        """Business time used at which each step of `LADDER` fires."""
        target = self.target(metric)
        return (
            target * self.settings.warning_share,
            target,
            target + timedelta(hours=self.settings.further_after_hours),
        )

    def why(self, kind: str, priority: str, tier: str) -> str | None:
        """The reason it matches, or None."""
        parts = []
        for label, wanted, value in (
            ("kind", self.settings.kinds, kind),
            ("priority", self.settings.priorities, priority),
            ("tier", self.settings.tiers, tier),
        ):
            if wanted and value not in wanted:
                return None
            if wanted:
                parts.append(f"{label} {value}")
        return f"policy {self.name!r}: " + (", ".join(parts) if parts else "matches every ticket")

    def fingerprint(self, calendar: BusinessCalendar) -> str:
        """Changes when the policy's targets or the calendar change: timers are recomputed."""
        text = self.settings.model_dump_json() + "|" + calendar.fingerprint
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Match:
    policy: Policy
    calendar: BusinessCalendar
    reason: str

    @property
    def fingerprint(self) -> str:
        return self.policy.fingerprint(self.calendar)


class PolicyBook:
    """The configured policies and calendars, built once from the settings."""

    def __init__(self, settings: SlaSettings) -> None:
        self.settings = settings
        self.policies = [Policy(p) for p in settings.policies]
        self.calendars = {
            name: build_calendar(name, calendar) for name, calendar in settings.calendars.items()
        }

    def calendar(self, name: str) -> BusinessCalendar:
        """A timer's calendar by name; one removed from the settings falls back to 'default'."""
        return self.calendars.get(name) or self.calendars["default"]

    def calendar_for(self, team: str | None, tier: str) -> BusinessCalendar:
        """The tier's calendar if one is named, else the team's, else 'default'."""
        name = self.settings.tier_calendars.get(tier)
        if name is None and team is not None:
            name = self.settings.team_calendars.get(team)
        return self.calendars[name or "default"]

    def match(self, *, kind: str, priority: str, tier: str, team: str | None) -> Match:
        calendar = self.calendar_for(team, tier)
        for policy in self.policies:
            reason = policy.why(kind, priority, tier)
            if reason is not None:
                return Match(policy, calendar, f"{reason}; calendar {calendar.name!r}")
        raise AssertionError("unreachable: the settings keep a catch-all policy last")

    def fingerprints(self) -> dict[tuple[str, str], str]:
        """Every (policy, calendar) pair's current fingerprint."""
        return {
            (policy.name, calendar.name): policy.fingerprint(calendar)
            for policy in self.policies
            for calendar in self.calendars.values()
        }

    def by_name(self, policy: str, calendar: str) -> Match | None:
        for candidate in self.policies:
            if candidate.name == policy and calendar in self.calendars:
                return Match(candidate, self.calendars[calendar], f"policy {policy!r}")
        return None
