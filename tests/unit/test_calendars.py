"""Business calendars: open hours, holidays, extra dates, DST, specs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork.domain.calendars import Calendar, calendar_from_spec, calendar_to_spec
from tickwork.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_defaults_are_weekdays_nine_to_five_utc() -> None:
    cal = Calendar()
    assert cal.is_open(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # Monday 09:00
    assert cal.is_open(datetime(2026, 3, 2, 16, 59, 59, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 3, 2, 17, 0, tzinfo=UTC))  # the end is exclusive
    assert not cal.is_open(datetime(2026, 3, 2, 8, 59, 59, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))  # Saturday


def test_is_open_is_evaluated_in_the_calendars_timezone() -> None:
    cal = Calendar(timezone="Europe/Berlin")
    # 08:30 UTC on a winter Monday is 09:30 in Berlin.
    assert cal.is_open(datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))  # 17:30 in Berlin
    # Friday 23:30 UTC is already Saturday in Berlin.
    assert not cal.is_open(datetime(2026, 3, 6, 23, 30, tzinfo=UTC))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        Calendar().is_open(datetime(2026, 3, 2, 10, 0))


def test_next_open_returns_an_open_instant_itself() -> None:
    cal = Calendar(timezone="Europe/Berlin")
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    opened = cal.next_open(at)
    assert opened == at and opened.tzinfo == BERLIN


def test_next_open_before_hours_after_hours_and_over_the_weekend() -> None:
    cal = Calendar(timezone="Europe/Berlin")
    assert cal.next_open(berlin(2026, 3, 2, 7, 15)) == berlin(2026, 3, 2, 9, 0)
    assert cal.next_open(berlin(2026, 3, 2, 17, 0)) == berlin(2026, 3, 3, 9, 0)
    saturday = berlin(2026, 3, 7, 12, 0)
    assert cal.next_open(saturday) == berlin(2026, 3, 9, 9, 0)
    friday_evening = berlin(2026, 3, 6, 18, 0)
    monday = cal.next_open(friday_evening)
    assert monday == berlin(2026, 3, 9, 9, 0)
    assert monday.tzinfo == BERLIN and monday.utcoffset() == BERLIN.utcoffset(monday)
    assert cal.next_open(datetime(2026, 3, 7, 12, 0, tzinfo=UTC)) == berlin(2026, 3, 9, 9, 0)


def test_german_holidays_close_the_day() -> None:
    cal = Calendar(timezone="Europe/Berlin", holidays_country="DE")
    christmas = berlin(2026, 12, 25, 10, 0)  # a Friday
    assert not cal.is_open(christmas)
    # Saturday and Sunday follow; Monday the 28th opens (the 26th is a holiday too, a Saturday).
    assert cal.next_open(christmas) == berlin(2026, 12, 28, 9, 0)
    assert cal.is_open(berlin(2026, 12, 24, 10, 0))  # not a public holiday in Germany


def test_subdivision_holidays() -> None:
    bavaria = Calendar(timezone="Europe/Berlin", holidays_country="DE", subdivision="BY")
    berlin_state = Calendar(timezone="Europe/Berlin", holidays_country="DE", subdivision="BE")
    epiphany = berlin(2026, 1, 6, 10, 0)  # Tuesday; a holiday in Bavaria, not in Berlin
    assert not bavaria.is_open(epiphany)
    assert berlin_state.is_open(epiphany)


def test_extra_closed_dates() -> None:
    cal = Calendar(dates=frozenset({date(2026, 3, 2), date(2026, 3, 3)}))
    assert not cal.is_open(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert cal.next_open(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) == datetime(
        2026, 3, 4, 9, 0, tzinfo=UTC
    )


def test_weekend_only_calendar() -> None:
    cal = calendar_from_spec({"days": ["sat", "sun"], "hours": "10:00-12:00"})
    assert cal.next_open(datetime(2026, 3, 2, 11, 0, tzinfo=UTC)) == datetime(
        2026, 3, 7, 10, 0, tzinfo=UTC
    )


def test_opening_inside_the_spring_forward_gap_is_the_end_of_the_gap() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 never happens.
    cal = calendar_from_spec({"timezone": "Europe/Berlin", "days": ["sun"], "hours": "02:30-04:00"})
    opened = cal.next_open(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert opened.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert cal.is_open(opened)
    assert not cal.is_open(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))  # 01:59:59 CET


def test_opening_on_a_dst_day_keeps_the_local_time() -> None:
    cal = Calendar(timezone="Europe/Berlin", days=frozenset(range(7)))
    spring = cal.next_open(berlin(2026, 3, 29, 1, 0))  # the day has 23 hours
    assert spring == berlin(2026, 3, 29, 9, 0)
    assert spring.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    autumn = cal.next_open(berlin(2026, 10, 25, 1, 0))  # the day has 25 hours
    assert autumn.astimezone(UTC) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_repeated_hour_of_the_autumn_change() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:00-03:00 happens twice.
    cal = calendar_from_spec({"timezone": "Europe/Berlin", "days": ["sun"], "hours": "02:30-04:00"})
    first_pass = cal.next_open(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert first_pass.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    # 02:10 CET (the second pass) is before 02:30 by the wall clock: closed until 02:30 CET.
    second = cal.next_open(datetime(2026, 10, 25, 1, 10, tzinfo=UTC))
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_until_midnight() -> None:
    cal = calendar_from_spec({"hours": "18:00-24:00", "days": [0]})
    assert cal.is_open(datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))
    assert cal_spec_round_trips(cal)["hours"] == "18:00-24:00"


def cal_spec_round_trips(cal: Calendar) -> dict[str, Any]:
    spec = calendar_to_spec(cal)
    assert json.loads(json.dumps(spec)) == spec
    assert calendar_from_spec(spec) == cal
    return spec


def test_spec_parsing_and_round_trip() -> None:
    cal = calendar_from_spec(
        {
            "timezone": "Europe/Berlin",
            "days": ["MON", "tue", "Wednesday", 3, "fri"],
            "hours": " 08:30 - 18:15 ",
            "holidays": "de",
            "subdivision": "by",
            "dates": ["2026-12-24", date(2026, 12, 31)],  # TOML gives dates as date objects
        }
    )
    assert cal == Calendar(
        timezone="Europe/Berlin",
        days=frozenset(range(5)),
        start=time(8, 30),
        end=time(18, 15),
        holidays_country="DE",
        subdivision="BY",
        dates=frozenset({date(2026, 12, 24), date(2026, 12, 31)}),
    )
    assert cal_spec_round_trips(cal) == {
        "timezone": "Europe/Berlin",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": "08:30-18:15",
        "holidays": "DE",
        "subdivision": "BY",
        "dates": ["2026-12-24", "2026-12-31"],
    }
    assert cal_spec_round_trips(calendar_from_spec({})) == {
        "timezone": "UTC",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": "09:00-17:00",
    }
    assert calendar_from_spec({"hours": "09:00:30-17:00"}).start == time(9, 0, 30)


BAD_SPECS: dict[str, tuple[Any, str, str]] = {
    "unknown-key": ({"hour": "09:00-17:00"}, "calendar.hour", "'hour'"),
    "bad-timezone": ({"timezone": "Mars/Olympus"}, "calendar.timezone", "Mars/Olympus"),
    "timezone-not-str": ({"timezone": 5}, "calendar.timezone", "5"),
    "empty-days": ({"days": []}, "calendar.days", "at least one day"),
    "bad-day-name": ({"days": ["mon", "funday"]}, "calendar.days", "'funday'"),
    "day-out-of-range": ({"days": [7]}, "calendar.days", "7"),
    "days-not-list": ({"days": "mon"}, "calendar.days", "'mon'"),
    "reversed-hours": ({"hours": "17:00-09:00"}, "calendar.hours", "17:00-09:00"),
    "empty-hours": ({"hours": "09:00-09:00"}, "calendar.hours", "09:00-09:00"),
    "bad-hours": ({"hours": "9-5"}, "calendar.hours", "'9-5'"),
    "no-such-time": ({"hours": "09:00-25:00"}, "calendar.hours", "25:00"),
    "unknown-country": ({"holidays": "XX"}, "calendar.holidays", "'XX'"),
    "country-not-str": ({"holidays": 49}, "calendar.holidays", "49"),
    "unknown-subdivision": (
        {"holidays": "DE", "subdivision": "ZZ"},
        "calendar.subdivision",
        "'ZZ'",
    ),
    "subdivision-without-country": ({"subdivision": "BY"}, "calendar.subdivision", "'BY'"),
    "bad-date": ({"dates": ["2026-02-30"]}, "calendar.dates", "2026-02-30"),
    "date-format": ({"dates": ["24.12.2026"]}, "calendar.dates", "24.12.2026"),
    "dates-not-list": ({"dates": "2026-12-24"}, "calendar.dates", "2026-12-24"),
    "not-a-table": ("weekdays", "calendar", "weekdays"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_name_the_field_and_value(case: str) -> None:
    spec, field, needle = BAD_SPECS[case]
    with pytest.raises(ConfigError) as info:
        calendar_from_spec(spec)
    assert info.value.field == field
    assert needle in str(info.value)


def test_bad_spec_uses_the_given_field_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        calendar_from_spec({"hours": "17:00-09:00"}, field="jobs.report.calendar")
    assert info.value.field == "jobs.report.calendar.hours"


def test_invalid_constructions() -> None:
    with pytest.raises(ConfigError, match="at least one day"):
        Calendar(days=frozenset())
    with pytest.raises(ConfigError, match="end must be after"):
        Calendar(start=time(17), end=time(9))
    with pytest.raises(ConfigError, match="XX"):
        Calendar(holidays_country="XX")


def test_gives_up_after_about_two_years_of_closed_days() -> None:
    start = date(2026, 1, 1)
    closed = frozenset(date.fromordinal(start.toordinal() + i) for i in range(900))
    cal = Calendar(days=frozenset(range(7)), dates=closed)
    with pytest.raises(ConfigError, match="no opening"):
        cal.next_open(datetime(2026, 1, 1, tzinfo=UTC))


def test_calendars_are_hashable_values() -> None:
    assert hash(Calendar()) == hash(Calendar())
    assert {Calendar(), Calendar()} == {Calendar()}
