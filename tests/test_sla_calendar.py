"""Business-time arithmetic: properties over random calendars and instants, and hand-worked
cases across daylight-saving changes, holidays and overnight periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.sla.calendar import WEEKDAYS, BusinessCalendar, CalendarError, build_calendar
from helpdesk.sla.settings import CalendarSettings

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")


def _calendar(**fields: object) -> BusinessCalendar:
    return build_calendar("test", CalendarSettings(**fields))  # type: ignore[arg-type]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@st.composite
def periods(draw: st.DrawFn) -> str:
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    length = draw(st.integers(1, 16 * 4)) * 15
    end = (start + length) % (24 * 60)
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    hours = {day: draw(st.lists(periods(), max_size=3)) for day in WEEKDAYS}
    if not any(hours.values()):
        hours["mon"] = ["09:00-17:00"]
    closed = draw(st.lists(st.dates(date(2025, 6, 1), date(2027, 6, 1)), max_size=10))
    country = draw(st.sampled_from([None, "DE", "US", "GB"]))
    return _calendar(
        timezone=draw(st.sampled_from(ZONES)), hours=hours, country=country, closed_dates=closed
    )


instants = st.datetimes(datetime(2025, 9, 1), datetime(2026, 12, 31), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=0)
)
durations = st.integers(0, 200 * 3600).map(lambda seconds: timedelta(seconds=seconds))

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(calendars(), instants, durations)
def test_adding_then_subtracting_returns_the_open_start(calendar, start, duration):
    opened = calendar.next_open(start)  # a closed start counts from the next opening
    end = calendar.add(start, duration)
    assert calendar.subtract(end, duration) == opened
    assert calendar.between(start, end) == duration


@FAST
@given(calendars(), instants, durations)
def test_no_result_falls_outside_open_hours(calendar, start, duration):
    end = calendar.add(start, duration)
    if duration:
        # Open just before the result: the last second counted was a working one.
        assert calendar.is_open(end - timedelta(microseconds=1))
        assert not calendar.is_closed_day_at(end - timedelta(microseconds=1))


@FAST
@given(calendars(), instants, instants)
def test_business_time_never_exceeds_wall_time(calendar, first, second):
    earlier, later = sorted((first, second))
    spent = calendar.between(earlier, later)
    assert timedelta(0) <= spent <= later - earlier
    assert calendar.between(later, earlier) == -spent


def test_a_holiday_closes_the_day_and_its_overnight_period():
    # Fridays 22:00-06:00 in Berlin; 3 April 2026 is Good Friday, a German public holiday.
    calendar = _calendar(timezone="Europe/Berlin", hours={"fri": ["22:00-06:00"]}, country="DE")
    start = _at("2026-04-03T12:00:00+02:00")
    assert calendar.next_open(start) == _at("2026-04-10T22:00:00+02:00")
    assert calendar.add(start, timedelta(hours=8)) == _at("2026-04-11T06:00:00+02:00")


def test_the_company_s_own_dates_close_too():
    calendar = _calendar(hours={"thu": ["09:00-17:00"]}, closed_dates=[date(2026, 12, 24)])
    start = _at("2026-12-24T08:00:00+00:00")
    assert calendar.add(start, timedelta(hours=1)) == _at("2026-12-31T10:00:00+00:00")


def test_several_periods_a_day():
    calendar = _calendar(hours={"mon": ["09:00-12:00", "13:00-17:00"]})
    start = _at("2026-03-02T11:00:00+00:00")
    assert calendar.add(start, timedelta(hours=2)) == _at("2026-03-02T14:00:00+00:00")
    assert calendar.between(start, _at("2026-03-02T18:00:00+00:00")) == timedelta(hours=5)


def test_a_spring_forward_night_is_an_hour_shorter():
    # Europe/Berlin moves from 02:00 to 03:00 on 29 March 2026: the night shift has 7 hours.
    calendar = _calendar(timezone="Europe/Berlin", hours={"sat": ["22:00-06:00"]})
    start = _at("2026-03-28T22:00:00+01:00")
    end = _at("2026-03-29T06:00:00+02:00")
    assert calendar.between(start, end) == timedelta(hours=7)
    assert calendar.add(start, timedelta(hours=7)) == end


def test_a_fall_back_night_is_an_hour_longer():
    # 25 October 2026 02:00-03:00 happens twice in Berlin: 9 hours of work that night.
    calendar = _calendar(timezone="Europe/Berlin", hours={"sat": ["22:00-06:00"]})
    start = _at("2026-10-24T22:00:00+02:00")
    assert calendar.add(start, timedelta(hours=9)) == _at("2026-10-25T06:00:00+01:00")


def test_a_day_shift_keeps_its_wall_hours_across_the_change():
    # New York changes on 8 March 2026; 09:00-17:00 stays 09:00-17:00 on the wall.
    calendar = _calendar(
        timezone="America/New_York", hours={"fri": ["09:00-17:00"], "mon": ["09:00-17:00"]}
    )
    start = _at("2026-03-06T16:00:00-05:00")
    assert calendar.add(start, timedelta(hours=2)) == _at("2026-03-09T10:00:00-04:00")
    # Fri 16:00 to Mon 10:00 on the wall is 66 hours; one of them was skipped.
    assert calendar.add(start, timedelta(hours=2)) - start == timedelta(hours=65)


def test_a_period_starting_in_the_skipped_hour_starts_after_the_change():
    calendar = _calendar(timezone="Europe/Berlin", hours={"sun": ["02:30-04:00"]})
    start = _at("2026-03-29T00:00:00+01:00")
    # 02:30 does not exist that night; the period opens at 03:30 CEST (zoneinfo's reading).
    assert calendar.next_open(start) == _at("2026-03-29T03:30:00+02:00")
    assert calendar.between(start, _at("2026-03-29T05:00:00+02:00")) == timedelta(minutes=30)


def test_a_calendar_that_never_opens_is_refused():
    with pytest.raises(CalendarError, match="never open"):
        _calendar(hours={})
    every_day = [date(2026, 1, 1) + timedelta(days=n) for n in range(5 * 366)]
    closed = _calendar(hours={"mon": ["09:00-10:00"]}, closed_dates=every_day)
    with pytest.raises(CalendarError, match="closed for three years"):
        closed.add(_at("2026-01-01T00:00:00+00:00"), timedelta(hours=1))


def test_bad_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown time zone"):
        CalendarSettings(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="not a period"):
        CalendarSettings(hours={"mon": ["9 to 5"]})
    with pytest.raises(ValueError, match="not one of"):
        CalendarSettings(hours={"monday": ["09:00-17:00"]})
