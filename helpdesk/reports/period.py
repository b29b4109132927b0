"""A report period from what a person types: dates or times, read in a time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpdesk.reports.query import Period

DEFAULT_DAYS = 30


class PeriodError(ValueError):
    """The period cannot be read; the message says why."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}; use a name such as Europe/Berlin") from None


def parse_period(start: str | None, end: str | None, time_zone: str, now: datetime) -> Period:
    """`start` and `end` are ISO dates or times. A date means its whole day in `time_zone`
    (so 2026-03-01 to 2026-03-31 is March); a time without an offset is read in `time_zone`.
    Without `end`, now; without `start`, DEFAULT_DAYS before the end."""
    tz = zone(time_zone)
    try:
        upper = _moment(end, tz, end_of_day=True) if end else now
        lower = _moment(start, tz, end_of_day=False) if start else upper - timedelta(DEFAULT_DAYS)
        if lower >= upper:
            raise PeriodError("the period must end after it starts")
        return Period(lower.astimezone(UTC), upper.astimezone(UTC), time_zone)
    except OverflowError:
        raise PeriodError("the period reaches past the calendar's ends") from None


def _moment(text: str, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"{text!r} is not a date (2026-03-01) or a time (2026-03-01T09:00)"
        ) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
