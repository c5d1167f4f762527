"""Recurring maintenance windows: parsing, local time, midnight and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tickwork.domain.maintenance import MaintenanceWindow
from tickwork.errors import ConfigError


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_parse_days_times_and_zone() -> None:
    window = MaintenanceWindow.parse("Sat 02:00-04:00 Europe/Berlin")
    assert (window.days, window.start, window.end) == (frozenset({5}), time(2), time(4))
    assert window.zone == "Europe/Berlin"
    assert MaintenanceWindow.parse("mon-fri 22:00-06:00").days == frozenset(range(5))
    assert MaintenanceWindow.parse("fri-mon 1:00-2:00").days == frozenset({4, 5, 6, 0})
    assert MaintenanceWindow.parse("tue,thursday 1:00-2:00").days == frozenset({1, 3})
    assert MaintenanceWindow.parse("daily 03:00-03:30 UTC").days == frozenset(range(7))
    assert MaintenanceWindow.parse("weekdays 03:00-03:30").zone == "UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sat 02:00", "invalid maintenance window"),
        ("sun 02:00-02:00", "starts when it ends"),
        ("someday 02:00-03:00", "unknown day 'someday'"),
        ("sat 25:00-03:00", "invalid time '25:00'"),
        ("sat 02:00-03:00 Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_bad_windows_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        MaintenanceWindow.parse(text, field="alerts.maintenance[0]")
    assert caught.value.field == "alerts.maintenance[0]"


def test_contains_in_local_time_across_midnight() -> None:
    window = MaintenanceWindow.parse("sat 23:00-01:00 America/New_York")
    # Saturday 2026-06-13 23:00 EDT is Sunday 03:00 UTC; it ends Sunday 05:00 UTC.
    assert not window.contains(utc(2026, 6, 14, 2, 59))
    assert window.contains(utc(2026, 6, 14, 3, 0))
    assert window.contains(utc(2026, 6, 14, 4, 59))
    assert not window.contains(utc(2026, 6, 14, 5, 0))
    # Not on a Sunday night.
    assert not window.contains(utc(2026, 6, 15, 3, 30))


def test_berlin_window_in_winter_and_summer() -> None:
    window = MaintenanceWindow.parse("sat 02:00-04:00 Europe/Berlin")
    assert window.contains(utc(2026, 1, 10, 1, 0))  # 02:00 CET
    assert not window.contains(utc(2026, 1, 10, 3, 0))  # 04:00 CET
    assert window.contains(utc(2026, 7, 11, 0, 0))  # 02:00 CEST
    assert not window.contains(utc(2026, 7, 11, 2, 0))  # 04:00 CEST


def test_daylight_saving_days() -> None:
    # Clocks go forward on Sunday 2026-03-29 at 02:00 CET -> 03:00 CEST: a 02:00-04:00 window
    # starts at the end of the gap (01:00 UTC) and ends at 04:00 CEST (02:00 UTC): one hour.
    spring = MaintenanceWindow.parse("sun 02:00-04:00 Europe/Berlin")
    assert spring.spans(datetime(2026, 3, 29).date()) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    assert not spring.contains(utc(2026, 3, 29, 0, 59))
    assert spring.contains(utc(2026, 3, 29, 1, 30))
    assert not spring.contains(utc(2026, 3, 29, 2, 0))
    # Clocks go back on Sunday 2026-10-25 at 03:00 CEST -> 02:00 CET: 02:00 (the first one,
    # CEST) is 00:00 UTC, 04:00 CET is 03:00 UTC: three hours.
    autumn = MaintenanceWindow.parse("sun 02:00-04:00 Europe/Berlin")
    assert autumn.spans(datetime(2026, 10, 25).date()) == (
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 3),
    )
    assert autumn.contains(utc(2026, 10, 25, 2, 30))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        MaintenanceWindow.parse("daily 01:00-02:00").contains(datetime(2026, 1, 1))


def _no_offset_change_near(moment: datetime, zone: ZoneInfo) -> bool:
    local = moment.astimezone(zone)
    days = [local.date() + timedelta(days=n) for n in (-1, 0, 1, 2)]
    offsets = {datetime.combine(day, time(), tzinfo=zone).utcoffset() for day in days}
    return len(offsets) == 1


@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_away_from_clock_changes_a_window_is_its_wall_clock_times(
    moment: datetime, days: frozenset[int], start: time, end: time, zone: str
) -> None:
    assume(start != end)
    tz = ZoneInfo(zone)
    assume(_no_offset_change_near(moment, tz))
    window = MaintenanceWindow(days=days, start=start, end=end, zone=zone)
    local = moment.astimezone(tz)
    at, today, yesterday = (
        local.time().replace(tzinfo=None),
        local.weekday(),
        (local.weekday() - 1) % 7,
    )
    if start < end:
        expected = today in days and start <= at < end
    else:
        expected = (today in days and at >= start) or (yesterday in days and at < end)
    assert window.contains(moment) == expected
