"""The notes beside a schedule's next fires (``domain/fire_notes.py``): Europe/Berlin's
spring-forward (29 March 2026, 02:00 → 03:00) and fall-back (25 October 2026, 03:00 → 02:00),
and a calendar that moves a run."""

from __future__ import annotations

from datetime import UTC, datetime

from tickwork.domain.fire_notes import noted_fires
from tickwork.domain.schedules import next_fires, parse_schedule

BERLIN = "Europe/Berlin"


def notes_of(expression: str, after: datetime, count: int) -> list[tuple[str, tuple[str, ...]]]:
    schedule = parse_schedule(expression, BERLIN)
    fires = next_fires(schedule, after, count)
    before = after.astimezone(fires[0].tzinfo).utcoffset()
    return [
        (f.fire_at.isoformat(), f.notes)
        for f in noted_fires(schedule, [(x, x) for x in fires], before)
    ]


def test_spring_forward_a_skipped_fixed_time_fires_at_the_jump() -> None:
    assert notes_of("30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=UTC), 2) == [
        (
            "2026-03-29T03:00:00+02:00",
            (
                "clocks jump forward from 02:00 to 03:00 (UTC+01:00 → UTC+02:00): 02:30 does not"
                " exist that day, so it fires at 03:00",
            ),
        ),
        ("2026-03-30T02:30:00+02:00", ()),
    ]


def test_spring_forward_a_time_after_the_jump_only_says_the_clocks_changed() -> None:
    assert notes_of("0 3 * * *", datetime(2026, 3, 28, 12, tzinfo=UTC), 1) == [
        (
            "2026-03-29T03:00:00+02:00",
            ("clocks jump forward from 02:00 to 03:00 (UTC+01:00 → UTC+02:00)",),
        )
    ]
    # An hourly interval loses the wall hour 02:00 and says where.
    fires = notes_of("every 1h", datetime(2026, 3, 29, 0, 30, tzinfo=UTC), 2)
    assert fires[0] == (
        "2026-03-29T03:00:00+02:00",
        ("clocks jump forward from 02:00 to 03:00 (UTC+01:00 → UTC+02:00)",),
    )


def test_fall_back_a_fixed_time_fires_once_on_the_first_pass() -> None:
    assert notes_of("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=UTC), 2) == [
        (
            "2026-10-25T02:30:00+02:00",
            (
                "02:30 occurs twice that day (clocks go back): it fires once, on the first pass"
                " (UTC+02:00)",
            ),
        ),
        (
            "2026-10-26T02:30:00+01:00",
            ("clocks changed since the fire before: UTC+02:00 → UTC+01:00",),
        ),
    ]


def test_fall_back_a_wildcard_hour_fires_on_both_passes() -> None:
    fires = notes_of("*/30 * * * *", datetime(2026, 10, 24, 23, 45, tzinfo=UTC), 5)
    assert fires == [
        (
            "2026-10-25T02:00:00+02:00",
            ("in the repeated hour (clocks go back): the first 02:00 (UTC+02:00)",),
        ),
        (
            "2026-10-25T02:30:00+02:00",
            ("in the repeated hour (clocks go back): the first 02:30 (UTC+02:00)",),
        ),
        (
            "2026-10-25T02:00:00+01:00",
            (
                "clocks go back at 02:00 (UTC+02:00 → UTC+01:00)",
                "in the repeated hour (clocks go back): the second 02:00 (UTC+01:00)",
            ),
        ),
        (
            "2026-10-25T02:30:00+01:00",
            ("in the repeated hour (clocks go back): the second 02:30 (UTC+01:00)",),
        ),
        ("2026-10-25T03:00:00+01:00", ()),
    ]


def test_a_calendar_move_is_noted() -> None:
    schedule = parse_schedule("0 10 * * *", BERLIN)
    (fire,) = next_fires(schedule, datetime(2026, 3, 6, 12, tzinfo=UTC), 1)
    monday = datetime(2026, 3, 9, 8, tzinfo=UTC).astimezone(fire.tzinfo)
    (noted,) = noted_fires(schedule, [(fire, monday)])
    assert noted.moved
    assert noted.notes == ("outside its calendar: moved to the next opening, 2026-03-09 09:00 CET",)
