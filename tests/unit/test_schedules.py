"""Schedule parsing and fire times: every syntax form, errors, DST transitions, properties."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tickwork.domain.schedules as schedules_module
from tickwork.domain.schedules import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    load_timezone,
    next_fires,
    parse_schedule,
)
from tickwork.errors import ConfigError

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def as_utc(fires: list[datetime]) -> list[datetime]:
    # Compare instants: datetimes sharing a tzinfo compare by wall time and ignore `fold`.
    return [fire.astimezone(UTC) for fire in fires]


def gaps(fires: list[datetime]) -> set[timedelta]:
    instants = as_utc(fires)
    return {later - earlier for earlier, later in itertools.pairwise(instants)}


# --- load_timezone -------------------------------------------------------------------------


def test_load_timezone_returns_the_zone() -> None:
    assert load_timezone("Europe/Berlin") == BERLIN
    assert load_timezone("UTC").key == "UTC"


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus_Mons", "utc ", "../etc/passwd", "/etc/localtime", "America", "zone.tab"],
)
def test_load_timezone_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_timezone(name)
    assert info.value.field == "timezone"
    assert str(info.value) == f"timezone: unknown timezone {name!r}"


# --- syntax forms --------------------------------------------------------------------------

START = utc(2026, 1, 5, 10, 2, 30)  # a Monday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/5 * * * *", [utc(2026, 1, 5, 10, 5), utc(2026, 1, 5, 10, 10)]),
        ("  */5   *  * *\t*  ", [utc(2026, 1, 5, 10, 5), utc(2026, 1, 5, 10, 10)]),
        ("10-20/5 * * * *", [utc(2026, 1, 5, 10, 10), utc(2026, 1, 5, 10, 15)]),
        ("50/5 * * * *", [utc(2026, 1, 5, 10, 50), utc(2026, 1, 5, 10, 55)]),
        ("0,30 9 * * *", [utc(2026, 1, 6, 9, 0), utc(2026, 1, 6, 9, 30)]),
        ("0 9 * * MON-FRI", [utc(2026, 1, 6, 9), utc(2026, 1, 7, 9)]),
        ("0 9 * * sat,sun", [utc(2026, 1, 10, 9), utc(2026, 1, 11, 9)]),
        ("0 0 1 JAN,jul *", [utc(2026, 7, 1), utc(2027, 1, 1)]),
        ("0 12 L * *", [utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)]),
        ("0 12 LW * *", [utc(2026, 1, 30, 12), utc(2026, 2, 27, 12)]),
        ("0 12 * * 5L", [utc(2026, 1, 30, 12), utc(2026, 2, 27, 12)]),
        ("0 12 * * MON#2", [utc(2026, 1, 12, 12), utc(2026, 2, 9, 12)]),
        ("0 12 * * 7", [utc(2026, 1, 11, 12), utc(2026, 1, 18, 12)]),
        # Neither day field starts with "*": either may match (the 13th or a Friday).
        ("0 0 13 * FRI", [utc(2026, 1, 9), utc(2026, 1, 13)]),
        # One starts with "*": both must match (a Friday the 13th).
        ("0 0 13 * */5", [utc(2026, 2, 13), utc(2026, 3, 13)]),
        ("@yearly", [utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("@annually", [utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("@monthly", [utc(2026, 2, 1), utc(2026, 3, 1)]),
        ("@weekly", [utc(2026, 1, 11), utc(2026, 1, 18)]),
        ("@daily", [utc(2026, 1, 6), utc(2026, 1, 7)]),
        ("@MIDNIGHT", [utc(2026, 1, 6), utc(2026, 1, 7)]),
        (" @Hourly ", [utc(2026, 1, 5, 11), utc(2026, 1, 5, 12)]),
        ("*/10 * * * * *", [utc(2026, 1, 5, 10, 2, 40), utc(2026, 1, 5, 10, 2, 50)]),
        ("* * * * * *", [utc(2026, 1, 5, 10, 2, 31), utc(2026, 1, 5, 10, 2, 32)]),
        ("30 0 9 * * MON-FRI", [utc(2026, 1, 6, 9, 0, 30), utc(2026, 1, 7, 9, 0, 30)]),
        ("0,45 * * * * *", [utc(2026, 1, 5, 10, 2, 45), utc(2026, 1, 5, 10, 3)]),
        ("5-6 * * * * *", [utc(2026, 1, 5, 10, 3, 5), utc(2026, 1, 5, 10, 3, 6)]),
        ("20/15 * * * * *", [utc(2026, 1, 5, 10, 2, 35), utc(2026, 1, 5, 10, 2, 50)]),
        ("10-40/15 * * * * *", [utc(2026, 1, 5, 10, 2, 40), utc(2026, 1, 5, 10, 3, 10)]),
        ("every 30s", [utc(2026, 1, 5, 10, 3), utc(2026, 1, 5, 10, 3, 30)]),
        ("every 5m", [utc(2026, 1, 5, 10, 5), utc(2026, 1, 5, 10, 10)]),
        ("Every 1h30m", [utc(2026, 1, 5, 10, 30), utc(2026, 1, 5, 12)]),
        ("every  2h", [utc(2026, 1, 5, 12), utc(2026, 1, 5, 14)]),
        ("every 1h 30m", [utc(2026, 1, 5, 10, 30), utc(2026, 1, 5, 12)]),
        ("every 1.5s", [utc(2026, 1, 5, 10, 2, 31, 500000), utc(2026, 1, 5, 10, 2, 33)]),
    ],
)
def test_syntax_forms(expression: str, expected: list[datetime]) -> None:
    schedule = parse_schedule(expression)
    assert schedule.expression == expression  # kept as the user wrote it
    assert schedule.timezone == "UTC"
    assert next_fires(schedule, START, 2) == expected


def test_concrete_types() -> None:
    cron: Schedule = parse_schedule("30 0 9 * * mon")
    assert isinstance(cron, CronSchedule)
    assert cron.seconds == (30,)
    assert cron.cron == "0 9 * * mon"
    assert parse_schedule("@daily") == CronSchedule("@daily", "UTC", "0 0 * * *", (0,))
    interval = parse_schedule("every 2h", "Europe/Berlin")
    assert interval == IntervalSchedule("every 2h", "Europe/Berlin", timedelta(hours=2))


def test_next_after_is_strictly_after_and_drops_microseconds() -> None:
    schedule = parse_schedule("*/5 * * * *")
    assert schedule.next_after(utc(2026, 1, 5, 10, 5)) == utc(2026, 1, 5, 10, 10)
    assert schedule.next_after(utc(2026, 1, 5, 10, 4, 59, 999999)) == utc(2026, 1, 5, 10, 5)
    seconds = parse_schedule("*/10 * * * * *")
    assert seconds.next_after(utc(2026, 1, 5, 10, 0, 10)) == utc(2026, 1, 5, 10, 0, 20)
    assert seconds.next_after(utc(2026, 1, 5, 10, 0, 59, 1)) == utc(2026, 1, 5, 10, 1)
    interval = parse_schedule("every 1m")
    assert interval.next_after(utc(2026, 1, 5, 10, 1)) == utc(2026, 1, 5, 10, 2)
    assert interval.next_after(utc(2026, 1, 5, 10, 1, 59, 999999)) == utc(2026, 1, 5, 10, 2)


def test_results_are_in_the_schedule_timezone_whatever_the_input_zone() -> None:
    schedule = parse_schedule("0 9 * * *", "Europe/Berlin")
    fire = schedule.next_after(datetime(2026, 1, 5, 3, tzinfo=NY))  # 09:00 in Berlin
    assert fire.tzinfo is BERLIN
    assert fire == datetime(2026, 1, 6, 9, tzinfo=BERLIN)
    assert fire.astimezone(UTC) == utc(2026, 1, 6, 8)
    interval = parse_schedule("every 1h", "America/New_York")
    assert interval.next_after(utc(2026, 1, 5, 10, 30)).tzinfo is NY


def test_naive_datetimes_are_refused() -> None:
    for expression in ("* * * * *", "every 1m"):
        with pytest.raises(ValueError, match="timezone-aware"):
            parse_schedule(expression).next_after(datetime(2026, 1, 5))


def test_next_fires_counts() -> None:
    schedule = parse_schedule("@hourly")
    assert next_fires(schedule, START, 0) == []
    assert len(next_fires(schedule, START, 48)) == 48
    with pytest.raises(ValueError, match="negative"):
        next_fires(schedule, START, -1)


def test_every_second_is_computed_without_scanning() -> None:
    schedule = parse_schedule("* * * * * *", "Europe/Berlin")
    after = datetime(2026, 3, 29, 1, 59, 58, 500000, tzinfo=BERLIN)
    fires = next_fires(schedule, after, 3)
    # Crosses the spring-forward gap (02:00 -> 03:00) one real second at a time.
    assert as_utc(fires) == [
        utc(2026, 3, 29, 0, 59, 59),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 1, 0, 1),
    ]
    assert fires[1] == datetime(2026, 3, 29, 3, tzinfo=BERLIN)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "invalid cron expression '61 * * * *': minute value 61 out of range 0-59"),
        ("0 24 * * *", "hour value 24 out of range 0-23"),
        ("0 0 0 * *", "day-of-month value 0 out of range 1-31"),
        ("0 0 * 13 *", "month value 13 out of range 1-12"),
        ("0 0 * * 8", "day-of-week value 8 out of range 0-7"),
        ("60 * * * * *", "second value 60 out of range 0-59"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6"),
        ("* * * *", "got 4"),
        ("* * * * * * *", "got 7"),
        ("*/0 * * * *", "minute step in '*/0' must be at least 1"),
        ("*/x * * * *", "minute step 'x' in '*/x' is not a number"),
        ("0/0 * * * * *", "second step in '0/0' must be at least 1"),
        ("*/ * * * *", "minute step '' in '*/' is not a number"),
        ("/5 * * * *", "minute field '/5' has nothing before the '/'"),
        ("5-1 * * * *", "minute range '5-1' is reversed"),
        ("5- * * * *", "minute field '5-' is missing a value"),
        ("1,,2 * * * *", "minute field '1,,2' has an empty list item"),
        ("abc * * * *", "minute value 'abc' is not a number"),
        ("0 0 * * FOO", "day-of-week value 'FOO' is not a number or a name (SUN-SAT)"),
        ("0 0 * January *", "month value 'January' is not a number or a name (JAN-DEC)"),
        ("0 0 * * 1#6", "day-of-week '1#6': the number after '#' must be 1-5"),
        ("0 0 * * L", "day-of-week 'L': 'L' must follow a day number"),
        ("0 0 30 2 *", "day-of-month 30 never occurs in FEB"),
        ("0 0 31 4,6 *", "day-of-month 31 never occurs in APR,JUN"),
        ("0 0 */20 * 1#2", "it never fires (day-of-month and day-of-week must both match)"),
        ("@reboot", "unknown schedule alias '@reboot' (expected one of @yearly, @annually"),
        ("@", "unknown schedule alias '@'"),
        ("", "schedule expression is empty"),
        ("   ", "schedule expression is empty"),
        ("every", "invalid interval 'every': missing duration"),
        ("every 0s", "invalid interval 'every 0s': must be at least 1 second"),
        ("every 500ms", "must be at least 1 second"),
        ("every -5m", "invalid interval 'every -5m': invalid duration '-5m'"),
        ("every 5 parsecs", "invalid duration '5 parsecs'"),
    ],
)
def test_invalid_expressions(expression: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule(expression)
    assert info.value.field == "schedule"
    assert reason in str(info.value)
    assert str(info.value).startswith("schedule: ")


def test_bad_timezone_is_reported_for_the_timezone_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule("* * * * *", "Europe/Atlantis")
    assert info.value.field == "timezone"
    assert str(info.value) == "timezone: unknown timezone 'Europe/Atlantis'"


# --- daylight-saving time ------------------------------------------------------------------
# 2026 transitions: New York springs forward 03-08 02:00 EST -> 03:00 EDT and falls back
# 11-01 02:00 EDT -> 01:00 EST; Berlin 03-29 02:00 CET -> 03:00 CEST and 10-25 03:00 CEST ->
# 02:00 CET.


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc"),
    [
        (NY, datetime(2026, 3, 8), utc(2026, 3, 8, 7)),  # 03:00 EDT
        (BERLIN, datetime(2026, 3, 29), utc(2026, 3, 29, 1)),  # 03:00 CEST
    ],
)
def test_time_skipped_by_spring_forward_fires_once_right_after_the_jump(
    zone: ZoneInfo, day: datetime, expected_utc: datetime
) -> None:
    schedule = parse_schedule("30 2 * * *", zone.key)
    fires = next_fires(schedule, day.replace(tzinfo=zone), 3)
    assert fires[0] == datetime(day.year, day.month, day.day, 3, tzinfo=zone)
    assert as_utc(fires)[0] == expected_utc
    # The following days are back to 02:30.
    assert [(f.day, f.hour, f.minute) for f in fires[1:]] == [
        (day.day + 1, 2, 30),
        (day.day + 2, 2, 30),
    ]


def test_several_skipped_times_collapse_into_one_fire() -> None:
    schedule = parse_schedule("0,30 2 * * *", "America/New_York")
    fires = next_fires(schedule, datetime(2026, 3, 8, tzinfo=NY), 2)
    assert as_utc(fires) == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6)]


@pytest.mark.parametrize(
    ("zone", "expression", "day", "expected_utc"),
    [
        (
            NY,
            "30 1 * * *",
            datetime(2026, 11, 1),
            [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        ),
        (
            BERLIN,
            "30 2 * * *",
            datetime(2026, 10, 25),
            [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
    ],
)
def test_time_in_the_repeated_hour_fires_once_on_its_first_pass(
    zone: ZoneInfo, expression: str, day: datetime, expected_utc: list[datetime]
) -> None:
    schedule = parse_schedule(expression, zone.key)
    fires = next_fires(schedule, day.replace(tzinfo=zone), 2)
    assert as_utc(fires) == expected_utc
    assert fires[0].fold == 0


def test_starting_inside_the_second_pass_of_the_repeated_hour_does_not_go_back() -> None:
    schedule = parse_schedule("30 1 * * *", "America/New_York")
    after = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NY)  # 01:10 EST, after 01:30 EDT
    # cronsim alone would answer 01:30 EDT (05:30Z), which is before `after` (06:10Z).
    assert schedule.next_after(after).astimezone(UTC) == utc(2026, 11, 2, 6, 30)
    # Resuming right after the day's fire skips the second 01:30 too.
    assert schedule.next_after(utc(2026, 11, 1, 5, 30)).astimezone(UTC) == utc(2026, 11, 2, 6, 30)


@pytest.mark.parametrize(
    ("zone", "start", "hours_in_day"),
    [
        (NY, datetime(2026, 3, 8), 23),
        (NY, datetime(2026, 11, 1), 25),
        (BERLIN, datetime(2026, 3, 29), 23),
        (BERLIN, datetime(2026, 10, 25), 25),
    ],
)
@pytest.mark.parametrize(
    ("expression", "step"),
    [
        ("*/15 * * * *", timedelta(minutes=15)),
        ("0 * * * *", timedelta(hours=1)),
        ("@hourly", timedelta(hours=1)),
        ("*/20 * * * * *", timedelta(seconds=20)),
    ],
)
def test_wildcard_hour_keeps_its_rhythm_through_transitions(
    zone: ZoneInfo, start: datetime, hours_in_day: int, expression: str, step: timedelta
) -> None:
    schedule = parse_schedule(expression, zone.key)
    after = start.replace(tzinfo=zone) - timedelta(microseconds=1)
    per_day = timedelta(hours=hours_in_day) // step
    fires = next_fires(schedule, after, per_day + 1)
    assert gaps(fires) == {step}  # no duplicate, no hole, in real time
    assert fires[0] == start.replace(tzinfo=zone)
    assert fires[-1] == (start + timedelta(days=1)).replace(tzinfo=zone)  # next local midnight


def test_repeated_hour_is_listed_twice_with_fold() -> None:
    schedule = parse_schedule("0 * * * *", "America/New_York")
    fires = next_fires(schedule, datetime(2026, 11, 1, 0, 30, tzinfo=NY), 3)
    assert [(f.hour, f.fold, f.utcoffset()) for f in fires] == [
        (1, 0, timedelta(hours=-4)),
        (1, 1, timedelta(hours=-5)),
        (2, 0, timedelta(hours=-5)),
    ]


def test_seconds_field_through_spring_forward() -> None:
    schedule = parse_schedule("15,45 0 2 * * *", "America/New_York")
    fires = next_fires(schedule, datetime(2026, 3, 8, 1, 59, tzinfo=NY), 3)
    assert fires == [
        datetime(2026, 3, 8, 3, 0, 15, tzinfo=NY),
        datetime(2026, 3, 8, 3, 0, 45, tzinfo=NY),
        datetime(2026, 3, 9, 2, 0, 15, tzinfo=NY),
    ]
    # Resuming between the two seconds of the shifted minute gives the same answer.
    assert schedule.next_after(fires[0]) == fires[1]


def test_seconds_field_in_the_repeated_hour_fires_once() -> None:
    schedule = parse_schedule("0,30 30 1 * * *", "America/New_York")
    fires = next_fires(schedule, datetime(2026, 11, 1, tzinfo=NY), 3)
    assert as_utc(fires) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 5, 30, 30),
        utc(2026, 11, 2, 6, 30),
    ]


# Shifts other than an hour, jumps at other times of day (2026): Lord Howe falls back 04-05
# 02:00 +11:00 -> 01:30 +10:30 and springs forward 10-04 02:00 +10:30 -> 02:30 +11:00; Santiago
# falls back 04-05 00:00 -03:00 -> 04-04 23:00 -04:00 and springs forward 09-06 00:00 -04:00 ->
# 01:00 -03:00; Troll springs forward 03-29 01:00 +00:00 -> 03:00 +02:00.


@pytest.mark.parametrize(
    ("zone", "expression", "after", "expected"),
    [
        # The wall clock decides, whatever the shift: every sixth hour is kept (this lost 06:00
        # when real time was stepped in whole hours).
        (
            "Australia/Lord_Howe",
            "0 */6 * * *",
            "2026-04-04T23:00:00+11:00",
            ["2026-04-05T00:00:00+11:00", "2026-04-05T06:00:00+10:30", "2026-04-05T12:00:00+10:30"],
        ),
        (
            "Australia/Lord_Howe",
            "0 */6 * * *",
            "2026-10-03T23:00:00+10:30",
            ["2026-10-04T00:00:00+10:30", "2026-10-04T06:00:00+11:00", "2026-10-04T12:00:00+11:00"],
        ),
        # Wildcard hour: both passes of the repeated half hour, nothing for a skipped time.
        (
            "Australia/Lord_Howe",
            "45 * * * *",
            "2026-04-05T01:00:00+11:00",
            ["2026-04-05T01:45:00+11:00", "2026-04-05T01:45:00+10:30", "2026-04-05T02:45:00+10:30"],
        ),
        (
            "Australia/Lord_Howe",
            "15 * * * *",
            "2026-10-04T01:00:00+10:30",
            ["2026-10-04T01:15:00+10:30", "2026-10-04T03:15:00+11:00"],
        ),
        # Fixed time: the first pass only; a skipped one at the jump.
        (
            "Australia/Lord_Howe",
            "45 1 * * *",
            "2026-04-05T00:00:00+11:00",
            ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
        ),
        (
            "Australia/Lord_Howe",
            "15 2 * * *",
            "2026-10-04T00:00:00+10:30",
            ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
        ),
        # Midnight jumps: a skipped midnight fires at 01:00 for a fixed time, not for a wildcard.
        (
            "America/Santiago",
            "0 0 * * *",
            "2026-09-05T12:00:00-04:00",
            ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"],
        ),
        (
            "America/Santiago",
            "0 */6 * * *",
            "2026-09-05T12:00:00-04:00",
            ["2026-09-05T18:00:00-04:00", "2026-09-06T06:00:00-03:00"],
        ),
        (
            "America/Santiago",
            "30 23 * * *",
            "2026-04-04T12:00:00-03:00",
            ["2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"],
        ),
        (
            "America/Santiago",
            "30 * * * *",
            "2026-04-04T22:00:00-03:00",
            [
                "2026-04-04T22:30:00-03:00",
                "2026-04-04T23:30:00-03:00",
                "2026-04-04T23:30:00-04:00",
                "2026-04-05T00:30:00-04:00",
            ],
        ),
        # A two-hour jump: everything skipped collapses into one fire at the jump.
        (
            "Antarctica/Troll",
            "30 1,2 * * *",
            "2026-03-29T00:00:00+00:00",
            ["2026-03-29T03:00:00+02:00", "2026-03-30T01:30:00+02:00"],
        ),
    ],
)
def test_other_shifts_and_jump_times(
    zone: str, expression: str, after: str, expected: list[str]
) -> None:
    schedule = parse_schedule(expression, zone)
    fires = next_fires(schedule, datetime.fromisoformat(after), len(expected))
    assert [fire.isoformat() for fire in fires] == expected


def test_fixed_time_follows_debian_crons_split() -> None:
    fixed = {"30 2 * * *", "0 0-23/6 * * *", "0,30 1 * * *", "@daily", "15 30 2 * * *"}
    wildcard = {"0 * * * *", "0 */6 * * *", "*/30 1 * * *", "@hourly", "*/20 30 * * * *"}
    for expression in fixed | wildcard:
        schedule = parse_schedule(expression, "Australia/Lord_Howe")
        assert isinstance(schedule, CronSchedule)
        assert schedule.fixed_time == (expression in fixed), expression


# --- intervals -----------------------------------------------------------------------------


def test_interval_fires_are_multiples_of_the_interval_since_the_epoch() -> None:
    schedule = parse_schedule("every 7m", "Asia/Kolkata")  # +05:30, not a whole hour
    fires = next_fires(schedule, utc(2026, 5, 17, 13, 45, 12, 345), 5)
    for fire in fires:
        assert (fire.astimezone(UTC) - EPOCH) % timedelta(minutes=7) == timedelta(0)
    assert gaps(fires) == {timedelta(minutes=7)}
    # Independent of where a process starts looking: same grid from any earlier point.
    assert next_fires(schedule, fires[0] - timedelta(seconds=1), 5) == fires
    assert schedule.next_after(utc(1969, 12, 31, 23, 59)) == datetime(1970, 1, 1, tzinfo=UTC)


def test_interval_ignores_daylight_saving_time() -> None:
    schedule = parse_schedule("every 1h", "America/New_York")
    fires = next_fires(schedule, datetime(2026, 11, 1, 0, 30, tzinfo=NY), 4)
    assert gaps(fires) == {timedelta(hours=1)}
    assert [(f.hour, f.fold) for f in fires] == [(1, 0), (1, 1), (2, 0), (3, 0)]
    spring = next_fires(schedule, datetime(2026, 3, 8, 0, 30, tzinfo=NY), 3)
    assert [f.hour for f in spring] == [1, 3, 4]
    assert gaps(spring) == {timedelta(hours=1)}


# --- properties ----------------------------------------------------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",  # 30-minute DST shift
        "America/Santiago",  # transitions at midnight
        "Asia/Kolkata",
    )
]
TRANSITIONS = [
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 3, 29, 1),
    utc(2026, 10, 25, 1),
    utc(2026, 4, 4, 15),
    utc(2026, 10, 3, 15, 30),
    utc(2026, 4, 5, 3),
    utc(2026, 9, 6, 4),
]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        number.map(str),
        st.integers(1, high - low + 1).map(lambda step: f"*/{step}"),
        st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}"),
        st.tuples(number, number, st.integers(1, 9)).map(
            lambda p: f"{min(p[:2])}-{max(p[:2])}/{p[2]}"
        ),
        st.lists(number, min_size=2, max_size=3).map(lambda values: ",".join(map(str, values))),
    )


CRON = st.tuples(
    _field(0, 59),
    _field(0, 23),
    st.one_of(_field(1, 28), st.sampled_from(["L", "LW"])),
    st.one_of(_field(1, 12), st.just("JAN-JUN")),
    st.one_of(_field(0, 7), st.sampled_from(["MON-FRI", "5L", "1#2"])),
).map(" ".join)
EXPRESSIONS = st.one_of(
    CRON,
    st.tuples(_field(0, 59), CRON).map(" ".join),
    st.sampled_from(["@yearly", "@monthly", "@weekly", "@daily", "@hourly"]),
    st.integers(1, 3 * 86400).map(lambda seconds: f"every {seconds}s"),
)
AFTER = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.sampled_from(ZONES)),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-7200 * 10**6, 7200 * 10**6)).map(
        lambda p: p[0] + timedelta(microseconds=p[1])
    ),
)


# database=None: no .hypothesis/ directory left in the working tree.
@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(expression=EXPRESSIONS, zone=st.sampled_from(ZONES), after=AFTER)
def test_fire_times_are_strictly_increasing_and_resumable(
    expression: str, zone: ZoneInfo, after: datetime
) -> None:
    try:
        schedule = parse_schedule(expression, zone.key)
    except ConfigError as error:
        assume("never fires" not in str(error))
        raise
    fires = list(itertools.islice(schedule.iter_after(after), 5))
    instants = as_utc(fires)
    assert instants[0] > after
    assert all(earlier < later for earlier, later in itertools.pairwise(instants))
    assert all(fire.tzinfo is zone for fire in fires)
    # Each result is a real, normalised wall time in the zone (right offset and fold).
    assert all(
        fire.astimezone(UTC).astimezone(zone).utcoffset() == fire.utcoffset() for fire in fires
    )
    first = schedule.next_after(after)
    assert first.astimezone(UTC) == instants[0]
    assert first.utcoffset() == fires[0].utcoffset()
    # Resumable: continuing from any fire gives the next one.
    for fire, following in itertools.pairwise(fires):
        assert schedule.next_after(fire).astimezone(UTC) == following.astimezone(UTC)


# --- purity --------------------------------------------------------------------------------


def test_module_stays_pure_domain_code() -> None:
    tree = ast.parse(Path(schedules_module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = (
        "asyncio",
        "sqlalchemy",
        "httpx",
        "tickwork.store",
        "tickwork.runtime",
        "tickwork.cli",
    )
    assert not {name for name in imported if name.startswith(forbidden)}
    assert "now(" not in Path(schedules_module.__file__).read_text()
