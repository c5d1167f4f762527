"""A heartbeat check's uptime replayed from known pings (``domain/uptime.py``): up, late and
down from the period and grace, failures, a start that never finished, a pause going on, a
check made within the range, pings that retention removed, and a cron check."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.checks import Check, CheckSource, CheckSpec, CheckStatus, PingKind, new_check
from tickwork.domain.uptime import (
    KeptHours,
    PingHistory,
    PingMark,
    combined,
    hour_figures,
    hour_runs,
    replay_ranges,
    settled_hours,
    status_spans,
    uptime,
)

S = datetime(2026, 6, 1, tzinfo=UTC)  # the range's start
MIN = 60.0


def at(minutes: float) -> datetime:
    return S + timedelta(minutes=minutes)


def hourly(created: datetime = S - timedelta(days=1), **changes: object) -> Check:
    spec = CheckSpec("etl", period_seconds=3600, grace_seconds=600)
    return dataclasses.replace(new_check(spec, CheckSource.API, created), **changes)  # type: ignore[arg-type]


def mark(n: int, minutes: float, kind: PingKind = PingKind.SUCCESS, **kw: object) -> PingMark:
    return PingMark(n, kind, at(minutes), **kw)  # type: ignore[arg-type]


def history(
    earlier: list[PingMark], during: list[PingMark], stored: int | None = None
) -> PingHistory:
    return PingHistory(earlier, during, len(earlier) + len(during) if stored is None else stored)


def test_up_late_down_from_period_and_grace() -> None:
    # Finished 30 min before the range: due at +30, late to +40, down to the ping at +60; then
    # on time at +120; due +180, late to +190, down to the end (+240).
    check = hourly(pings=3)
    h = history([mark(1, -30)], [mark(2, 60), mark(3, 120)])
    spans = status_spans(check, h, S, at(240))
    assert [(s.status, s.start, s.end) for s in spans] == [
        (CheckStatus.UP, at(0), at(30)),
        (CheckStatus.LATE, at(30), at(40)),
        (CheckStatus.DOWN, at(40), at(60)),
        (CheckStatus.UP, at(60), at(180)),
        (CheckStatus.LATE, at(180), at(190)),
        (CheckStatus.DOWN, at(190), at(240)),
    ]
    line = uptime(check, h, S, at(240))
    assert (line.up_seconds, line.late_seconds, line.down_seconds) == (
        150 * MIN,
        20 * MIN,
        70 * MIN,
    )
    assert line.uptime == pytest.approx(170 / 240)
    assert line.status == "down"  # at the range's end
    assert (line.paused_seconds, line.unknown_seconds) == (0.0, 0.0)


def test_a_failure_is_down_until_the_next_success() -> None:
    check = hourly(pings=3)
    h = history([mark(1, -10)], [mark(2, 20, PingKind.FAIL, exit_status=2), mark(3, 50)])
    line = uptime(check, h, S, at(60))
    assert line.down_seconds == 30 * MIN and line.up_seconds == 30 * MIN
    assert line.uptime == pytest.approx(0.5) and line.status == "up"


def test_a_start_that_never_finishes_goes_down_after_the_grace() -> None:
    # Finished just before the range (due +55); started at +50, never finished: the run in
    # progress keeps it up until +60 (start + grace), then down.
    check = hourly(pings=2)
    h = history([mark(1, -5)], [mark(2, 50, PingKind.START)])
    spans = status_spans(check, h, S, at(90))
    assert [(s.status, s.start, s.end) for s in spans] == [
        (CheckStatus.UP, at(0), at(60)),
        (CheckStatus.DOWN, at(60), at(90)),
    ]


def test_a_pause_going_on_is_left_out_of_the_uptime() -> None:
    check = hourly(pings=1, paused_at=at(100))
    h = history([mark(1, -30)], [])
    line = uptime(check, h, S, at(160))
    # Up to +30, late to +40, down to the pause at +100, then paused.
    assert (line.up_seconds, line.late_seconds, line.down_seconds) == (30 * MIN, 10 * MIN, 60 * MIN)
    assert line.paused_seconds == 60 * MIN and line.status == "paused"
    assert line.uptime == pytest.approx(40 / 100)


def test_a_check_made_in_the_range_is_unknown_before_and_new_until_its_first_finish() -> None:
    check = hourly(created=at(60), pings=2)
    h = history([], [mark(1, 70, PingKind.LOG), mark(2, 90)])
    spans = status_spans(check, h, S, at(120))
    assert [(s.status, s.start, s.end) for s in spans] == [
        (None, at(0), at(60)),
        (CheckStatus.NEW, at(60), at(90)),
        (CheckStatus.UP, at(90), at(120)),
    ]
    line = uptime(check, h, S, at(120))
    assert line.unknown_seconds == 60 * MIN and line.uptime == 1.0


def test_nothing_expected_gives_no_uptime() -> None:
    line = uptime(hourly(), history([], []), S, at(60))
    assert line.uptime is None and line.status == "new"


def test_pings_removed_make_the_time_before_the_first_kept_finish_unknown() -> None:
    # 500 pings received, 2 kept, none before the range: before +20 nothing is known.
    check = hourly(pings=500)
    h = history([], [mark(400, 10, PingKind.START), mark(401, 20)])
    spans = status_spans(check, h, S, at(60))
    assert [(s.status, s.start, s.end) for s in spans] == [
        (None, at(0), at(20)),
        (CheckStatus.UP, at(20), at(60)),
    ]
    # A kept finish before the range: everything after it is kept, so all is known.
    kept = history([mark(399, -40)], [mark(400, 10, PingKind.START), mark(401, 20)], stored=3)
    spans = status_spans(check, kept, S, at(60))
    assert [(s.status, s.start, s.end) for s in spans] == [(CheckStatus.UP, at(0), at(60))]


def test_a_cron_check_in_its_timezone() -> None:
    # Daily at 03:00 Europe/Berlin (01:00 UTC in June), grace 30 min; pinged at 01:05 UTC on
    # the first day only: due again 01:00 the next day, late to 01:30, then down.
    spec = CheckSpec("nightly", cron="0 3 * * *", timezone="Europe/Berlin", grace_seconds=1800)
    check = dataclasses.replace(new_check(spec, CheckSource.API, S - timedelta(days=3)), pings=2)
    h = history([mark(1, -60 * 22)], [mark(2, 65)])
    line = uptime(check, h, S, S + timedelta(days=2))
    assert line.down_seconds == (24 * 60 - 90) * MIN
    assert line.late_seconds == 5 * MIN + 30 * MIN  # the first day's 01:00-01:05 was late too
    assert line.up_seconds == (60 + 24 * 60 - 5) * MIN


def test_settled_hours_and_the_ranges_left_to_replay() -> None:
    start, end = at(30), at(5 * 60 + 10)  # 00:30 to 05:10
    # 01:00-02:00 ... 03:00-04:00: the hour to 05:00 ended only 30 s before "now".
    now = at(5 * 60) + timedelta(seconds=30)
    assert settled_hours(start, end, now) == [at(60), at(120), at(180)]
    assert settled_hours(start, end, at(6 * 60)) == [at(60), at(120), at(180), at(240)]
    assert replay_ranges(start, end, []) == [(start, end)]
    kept = hour_runs([at(60), at(120), at(240)])
    assert kept == ((at(60), at(180)), (at(240), at(300)))
    assert replay_ranges(start, end, kept) == [(start, at(60)), (at(180), at(240)), (at(300), end)]


def test_kept_hours_and_replayed_edges_add_up_to_a_full_replay() -> None:
    # Hourly pings with a failure and a silence, cut at odd minutes: the hours kept from one
    # replay and the edges replayed again sum to the same line as one replay of the range.
    check = hourly(pings=8)
    marks = [mark(i, m) for i, m in enumerate([-20, 40, 100, 160, 400, 460, 520], start=1)]
    marks.insert(4, mark(20, 200, PingKind.FAIL))
    start, end = at(-7), at(600 + 13)
    h = as_read(marks, start, end)
    whole = uptime(check, h, start, end)
    hours = settled_hours(start, end, end + timedelta(hours=1))
    figures = hour_figures(check.uuid, status_spans(check, h, start, end), hours)
    assert [f.hour for f in figures] == hours
    sums: dict[CheckStatus | None, float] = {}
    for f in figures:
        for status, value in f.seconds.items():
            sums[status] = sums.get(status, 0.0) + value
    kept = KeptHours(check.uuid, sums, hour_runs(hours))
    edges = [
        s
        for a, b in replay_ranges(start, end, kept.runs)
        for s in status_spans(check, as_read(marks, a, b), a, b)
    ]
    line, fresh = combined(check, kept, edges, hours, end)
    assert fresh == []
    assert line == dataclasses.replace(
        whole,
        up_seconds=pytest.approx(whole.up_seconds),
        late_seconds=pytest.approx(whole.late_seconds),
        down_seconds=pytest.approx(whole.down_seconds),
        uptime=pytest.approx(whole.uptime),
    )


def as_read(marks: list[PingMark], start: datetime, end: datetime) -> PingHistory:
    """What the store reads for ``[start, end)``: the last finish and last start before it,
    the pings in it, and all of them kept."""
    before = [m for m in marks if m.at < start]
    finishes = [m for m in before if m.kind in (PingKind.SUCCESS, PingKind.FAIL)]
    starts = [m for m in before if m.kind is PingKind.START]
    earlier = [*finishes[-1:], *starts[-1:]]
    return PingHistory(earlier, [m for m in marks if start <= m.at < end], len(marks))
