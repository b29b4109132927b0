"""Business-hours calendars and business-time arithmetic.

A calendar is a time zone, opening periods per weekday (several a day; a period whose end is not
after its start runs overnight into the next day) and closed dates (public holidays of a country
from the `holidays` package, plus the company's own dates). A period belongs to the day it
starts on: a holiday closes the periods that start on it, including an overnight one.

Everything outside works in aware UTC; local wall times are turned into UTC instants per day, so
daylight-saving changes make a business day shorter or longer exactly as the clock on the wall
does. Open time is the union of those instants' intervals, half-open `[start, end)`; touching
intervals are not joined (a calendar open around the clock is one interval per day).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holiday_tables

MINUTES_PER_DAY = 24 * 60
# No calendar is closed for longer than this at a stretch; past it, it never opens again.
SEARCH_LIMIT = timedelta(days=3 * 366)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """A calendar that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    """Open from `start` to `end`, in minutes after local midnight; `end` <= `start` runs past
    midnight into the next day; 0-1440 is the whole day."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """'09:00-17:30', '22:00-06:00' (overnight), '00:00-24:00' (all day)."""
        try:
            first, second = (part.strip() for part in text.split("-"))
            start, end = _minutes(first), _minutes(second)
        except ValueError:
            raise CalendarError(f"{text!r} is not a period like 09:00-17:00") from None
        if start == MINUTES_PER_DAY:
            raise CalendarError(f"{text!r}: a period cannot start at 24:00")
        return cls(start, end)

    @property
    def length(self) -> int:
        return (self.end - self.start) % MINUTES_PER_DAY or MINUTES_PER_DAY


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= value <= MINUTES_PER_DAY):
        raise ValueError(text)
    return value


def _wall(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time; a time skipped by a DST change maps to the instant the
    same distance after the change (zoneinfo's fold=0 reading)."""
    day = day + timedelta(days=minutes // MINUTES_PER_DAY)
    minutes %= MINUTES_PER_DAY
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


ClosedDay = Callable[[date], bool]


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    zone: ZoneInfo
    # Index 0 is Monday.
    week: tuple[tuple[Period, ...], ...]
    country: str | None = None
    subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    _holidays: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise CalendarError(f"calendar {self.name!r}: opening hours need all seven weekdays")
        if not any(self.week):
            raise CalendarError(f"calendar {self.name!r} is never open")
        if self.country is not None:
            try:
                table = holiday_tables.country_holidays(self.country, subdiv=self.subdivision)
            except NotImplementedError as exc:
                raise CalendarError(f"calendar {self.name!r}: {exc}") from None
            object.__setattr__(self, "_holidays", table)

    @classmethod
    def always_open(cls, name: str = "always") -> BusinessCalendar:
        return cls(name, ZoneInfo("UTC"), tuple((Period(0, MINUTES_PER_DAY),) for _ in WEEKDAYS))

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes when anything that moves a due time changes (timers are then recomputed)."""
        week = ";".join(",".join(f"{p.start}-{p.end}" for p in day) for day in self.week)
        dates = ",".join(sorted(d.isoformat() for d in self.closed_dates))
        return f"{self.zone.key}|{week}|{self.country}|{self.subdivision}|{dates}"

    def is_closed_day(self, day: date) -> bool:
        if day in self.closed_dates:
            return True
        table = self._holidays
        return table is not None and day in table  # type: ignore[operator]

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.is_closed_day(day):
            return []
        spans = []
        for period in self.week[day.weekday()]:
            start = _wall(day, period.start, self.zone)
            end = _wall(day, period.start + period.length, self.zone)
            if start < end:
                spans.append((start, end))
        return spans

    def intervals(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals, merged and in order, from the one holding `moment` (clipped to start
        at it) onwards."""
        moment = moment.astimezone(UTC)
        # The day before may hold an overnight period still open at `moment`.
        day = moment.astimezone(self.zone).date() - timedelta(days=1)
        buffer: list[tuple[datetime, datetime]] = []
        limit = moment + SEARCH_LIMIT
        while True:
            spans = [(max(s, moment), e) for s, e in self._day_intervals(day) if e > moment]
            buffer = _merge(buffer + spans)
            day += timedelta(days=1)
            # Later days open at or after their local midnight: what ends by it is final.
            boundary = _wall(day, 0, self.zone)
            while buffer and buffer[0][1] <= boundary:
                limit = buffer[0][1] + SEARCH_LIMIT
                yield buffer.pop(0)
            if boundary > limit:
                raise CalendarError(f"calendar {self.name!r} is closed for three years")

    def intervals_before(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals, merged, latest first, from the one holding `moment` (clipped to end
        at it) backwards."""
        moment = moment.astimezone(UTC)
        day = moment.astimezone(self.zone).date() + timedelta(days=1)
        buffer: list[tuple[datetime, datetime]] = []
        limit = moment - SEARCH_LIMIT
        while True:
            spans = [(s, min(e, moment)) for s, e in self._day_intervals(day) if s < moment]
            buffer = _merge(buffer + spans)
            # Earlier days' periods (overnight ones included) end before this day's end.
            boundary = _wall(day + timedelta(days=1), 0, self.zone)
            day -= timedelta(days=1)
            while buffer and buffer[-1][0] >= boundary:
                limit = buffer[-1][0] - SEARCH_LIMIT
                yield buffer.pop()
            if boundary < limit:
                raise CalendarError(f"calendar {self.name!r} is closed for three years")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of open time has passed after `start`. A result that
        falls on the end of an open interval is that end, not the next opening."""
        if duration < timedelta(0):
            return self.subtract(start, -duration)
        remaining = duration
        for begin, end in self.intervals(start):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable: intervals() never ends")

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of open time before `end`; the inverse of `add`."""
        if duration < timedelta(0):
            return self.add(end, -duration)
        if not duration:
            return end
        remaining = duration
        for begin, stop in self.intervals_before(end):
            if remaining <= stop - begin:
                return stop - remaining
            remaining -= stop - begin
        raise AssertionError("unreachable: intervals_before() never ends")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from `start` to `end` (negative when `end` is earlier)."""
        if end < start:
            return -self.between(end, start)
        total = timedelta(0)
        for begin, stop in self.intervals(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total

    def is_closed_day_at(self, moment: datetime) -> bool:
        """Whether `moment` falls on a closed date and outside an overnight period of the day
        before (which may still be open on a holiday morning)."""
        day = moment.astimezone(self.zone).date()
        return self.is_closed_day(day) and not any(
            start <= moment < end for start, end in self._day_intervals(day - timedelta(days=1))
        )

    def is_open(self, moment: datetime) -> bool:
        begin, _ = next(self.intervals(moment))
        return begin == moment.astimezone(UTC)

    def next_open(self, moment: datetime) -> datetime:
        """`moment` itself when open, else the next opening."""
        return next(self.intervals(moment))[0]


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping intervals joined, in order. Touching ones stay apart, so that a calendar
    open around the clock still yields one interval per day."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def build_calendar(name: str, settings: CalendarSettingsLike) -> BusinessCalendar:
    """A calendar from its settings (validated by `helpdesk.sla.settings.CalendarSettings`)."""
    week = tuple(
        tuple(Period.parse(text) for text in settings.hours.get(day, [])) for day in WEEKDAYS
    )
    return BusinessCalendar(
        name,
        ZoneInfo(settings.timezone),
        week,
        country=settings.country,
        subdivision=settings.subdivision,
        closed_dates=frozenset(settings.closed_dates),
    )


class CalendarSettingsLike(Protocol):
    timezone: str
    hours: dict[str, list[str]]
    country: str | None
    subdivision: str | None
    closed_dates: list[date]
