"""The load preview's counting (``domain/load.py``) against counts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.load import LoadInput, interval_of, load_report, simulate
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.spread import spread_offset

MONDAY = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, far from any clock change
DAY = 1440


def one(expression: str, p95: float | None = None, tz: str = "UTC", name: str = "a") -> LoadInput:
    return LoadInput(name, parse_schedule(expression, tz), p95)


def test_every_quarter_hour_with_two_minute_runs() -> None:
    p = simulate([one("*/15 * * * *", 120)], MONDAY, DAY)
    assert p.total_starts == 96
    assert p.starts[:16] == [1] + [0] * 14 + [1]
    # A run from :00:00 to :02:00 is in progress in minutes 0 and 1, not 2.
    assert p.concurrency[:4] == [1, 1, 0, 0]
    assert p.concurrency[15:18] == [1, 1, 0]


def test_several_fires_a_minute_count_runs_started_before_it() -> None:
    # Every 20 s, 30 s each: 3 starts a minute; in progress in a minute: the runs of -20 s,
    # 0, 20 and 40 s.
    p = simulate([one("every 20s", 30)], MONDAY, 3)
    assert p.starts == [3, 3, 3]
    assert p.concurrency == [4, 4, 4]
    assert simulate([one("every 20s", 30)], MONDAY, DAY).total_starts == 4320


def test_an_interval_that_is_not_a_whole_minute() -> None:
    # Every 90 s from the epoch: 00:00:00, 00:01:30, 00:03:00 ... without runs: starts only.
    p = simulate([one("every 90s")], MONDAY, 6)
    assert p.starts == [1, 1, 0, 1, 1, 0]
    assert p.concurrency == p.starts
    assert simulate([one("every 90s")], MONDAY, DAY).total_starts == 960


def test_runs_longer_than_the_interval_overlap_and_are_flagged() -> None:
    # Every minute, 120 s each: each minute holds its own run and the one before.
    report = load_report([one("every 1m", 120)], MONDAY, 1)
    assert report.profile.concurrency[:3] == [2, 2, 2]
    (long,) = report.long_runs
    assert (long.name, long.p95_seconds, long.interval_seconds) == ("a", 120, 60)
    assert interval_of(parse_schedule("0 9 * * 1-5"), MONDAY) == 86400


def test_cron_on_weekdays_in_its_zone() -> None:
    # 09:00 in Berlin (UTC+1 in December) on weekdays: 08:00 UTC, Monday to Friday.
    p = simulate([one("0 9 * * 1-5", tz="Europe/Berlin")], MONDAY, 7 * DAY)
    assert p.total_starts == 5
    assert [i for i, n in enumerate(p.starts) if n] == [d * DAY + 480 for d in range(5)]


def test_a_skipped_hour_fires_at_the_jump() -> None:
    # 02:30 Berlin: 01:30 UTC on 28 March; on the 29th 02:30 does not exist, it fires at the
    # jump, 03:00 CEST = 01:00 UTC.
    start = datetime(2026, 3, 28, tzinfo=UTC)
    p = simulate([one("30 2 * * *", tz="Europe/Berlin")], start, 2 * DAY)
    assert [i for i, n in enumerate(p.starts) if n] == [90, DAY + 60]
    # The day after the fall-back: 02:30 CET = 01:30 UTC once, not twice.
    start = datetime(2026, 10, 25, tzinfo=UTC)
    p = simulate([one("30 2 * * *", tz="Europe/Berlin")], start, DAY)
    assert [i for i, n in enumerate(p.starts) if n] == [30]  # 02:30 CEST = 00:30 UTC


def test_identical_schedules_add_up() -> None:
    p = simulate([one("*/5 * * * *", 10, name=f"j{i}") for i in range(1000)], MONDAY, DAY)
    assert p.starts[0] == 1000 and p.starts[1] == 0 and p.starts[5] == 1000
    assert p.total_starts == 1000 * 288


def test_pile_ups_get_the_spread_offsets_and_their_peak() -> None:
    names = ["export", "billing", "cleanup"]
    inputs = [one("0 * * * *", 30, name=n) for n in names[:2]] + [
        one("every 1h", 30, name=names[2])
    ]
    report = load_report(inputs, MONDAY, 1)
    assert report.profile.peak_starts == 3
    assert report.pile_ups and report.pile_ups[0].at == MONDAY
    assert set(report.pile_ups[0].names) == set(names)
    offsets = {p.name: p.offset_seconds for p in report.proposals}
    assert offsets == {n: spread_offset(n, 3600) for n in names}
    # With the offsets each job starts in the minute of its offset: the peak is how many share
    # a minute.
    minutes = [offsets[n] // 60 for n in names]
    assert report.spread_profile is not None
    assert report.spread_profile.peak_starts == max(minutes.count(m) for m in minutes)
    assert report.spread_profile.starts[:6] == [minutes.count(m) for m in range(6)]
    assert report.spread_profile.total_starts == report.profile.total_starts


def test_jobs_without_runs_are_named() -> None:
    report = load_report([one("@hourly", None, name="new")], MONDAY, 1)
    assert report.no_duration == ("new",)
    assert report.profile.total_starts == 24 and report.long_runs == ()


def test_the_window_starts_at_the_next_whole_minute_never_counting_a_past_fire() -> None:
    # At 00:00:30 the 00:00 fire of @hourly is past: the window starts at 00:01, and a day of
    # it holds 23 hourly fires (01:00 to 23:00) and the next day's 00:00 fire.
    late = load_report([one("@hourly", None)], MONDAY + timedelta(seconds=30), 1)
    assert late.start == MONDAY + timedelta(minutes=1)
    assert late.profile.starts[0] == 0 and late.profile.total_starts == 24
    on_time = load_report([one("@hourly", None)], MONDAY, 1)
    assert on_time.start == MONDAY and on_time.profile.starts[0] == 1
