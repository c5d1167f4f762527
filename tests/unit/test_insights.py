"""Each insight rule (``domain.insights``): a case where it fires, with its evidence and a
suggestion, and one where it stays quiet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tickwork.domain import insights as rules
from tickwork.domain.histogram import bucket_of
from tickwork.domain.stats import Distribution, ErrorGroup, KeyFigures, TaskFigures

SINCE = datetime(2026, 3, 1, 4, tzinfo=UTC)


def figures(
    name: str,
    durations: list[float] = (),  # type: ignore[assignment]
    **by_status: int,
) -> TaskFigures:
    d = Distribution()
    for v in durations:
        d = d.add(bucket_of(v), 1, v)
    return TaskFigures(name, dict(by_status), d, Distribution())


def test_always_failing_says_since_when() -> None:
    found = rules.always_failing(
        [figures("bad", failed=3, timeout=1), figures("ok", succeeded=1, failed=5)],
        {"bad": SINCE},
    )
    (f,) = found
    assert f.rule == "always_failing" and f.task == "bad"
    assert f.evidence["since"] == SINCE.isoformat() and f.evidence["failed"] == 4
    assert "since 2026-03-01" in f.message and f.suggestion
    assert rules.always_failing([figures("one", failed=1)], {}) == []  # one run says little


def test_timeout_too_tight_suggests_a_value() -> None:
    tight = figures("tight", [8.5] * 20, succeeded=20)
    roomy = figures("roomy", [2.0] * 20, succeeded=20)
    (f,) = rules.timeout_too_tight([tight, roomy], {"tight": 10.0, "roomy": 10.0})
    assert f.task == "tight"
    suggested = f.evidence["suggested_timeout_seconds"]
    assert isinstance(suggested, float) and suggested > 10.0
    assert suggested >= 1.5 * 8.5 and suggested in (15.0, 20.0)
    assert "raise its timeout" in f.suggestion
    assert rules.timeout_too_tight([tight], {}) == []  # no timeout set


def test_overlapping_runs_against_the_schedule_interval() -> None:
    long = figures("long", [90.0] * 10 + [20.0] * 10, succeeded=20)
    (f,) = rules.overlapping_runs([long], {"long": 60.0})
    assert f.evidence["longer_runs"] == 10 and f.evidence["interval_seconds"] == 60.0
    assert "overlap" in f.suggestion
    assert rules.overlapping_runs([long], {"long": 3600.0}) == []
    assert rules.overlapping_runs([long], {}) == []  # no schedule


def test_futile_retries() -> None:
    errors = [ErrorGroup("flaky", "f", "ConnectError", "network", "refused", None, 6)]
    (f,) = rules.futile_retries([figures("flaky", failed=6)], {"flaky": 2}, errors)
    assert f.evidence == {"retryable_failures": 6, "max_retries": 2, "succeeded": 0}
    assert "max_retries" in f.suggestion and "ConnectError" in f.message
    # A success, no retries configured, or failures that are not retried: quiet.
    assert (
        rules.futile_retries([figures("flaky", failed=6, succeeded=1)], {"flaky": 2}, errors) == []
    )
    assert rules.futile_retries([figures("flaky", failed=6)], {"flaky": 0}, errors) == []
    validation = [ErrorGroup("flaky", "f", "Fail", "validation", "bad", None, 6)]
    assert rules.futile_retries([figures("flaky", failed=6)], {"flaky": 2}, validation) == []


def test_dominant_key() -> None:
    keys = [KeyFigures("send", "big", 30, 30, 0), KeyFigures("send", "small", 5, 5, 0)]
    (f,) = rules.dominant_key(keys)
    assert f.evidence["key"] == "big" and f.evidence["keyed_runs"] == 35
    assert "key_limit" in f.suggestion
    balanced = [KeyFigures("send", "a", 15, 15, 0), KeyFigures("send", "b", 16, 16, 0)]
    assert rules.dominant_key(balanced) == []
    assert rules.dominant_key([KeyFigures("send", "only", 50, 50, 0)]) == []


def test_growing_backlog() -> None:
    (f,) = rules.growing_backlog(12, 400.0, 30.0, 5.0)
    assert f.task is None and f.evidence["due_now"] == 12
    assert "add workers" in f.suggestion
    assert rules.growing_backlog(0, None, 30.0, 5.0) == []  # nothing waits now
    assert rules.growing_backlog(12, 400.0, 6.0, 5.0) == []  # not growing
    assert rules.growing_backlog(12, 0.5, 0.2, None) == []  # short waits


def test_slowdown_against_the_previous_period() -> None:
    now = figures("job", [4.0] * 10, succeeded=10)
    before = figures("job", [1.0] * 10, succeeded=10)
    (f,) = rules.slowdown([now], [before])
    p50 = f.evidence["p50_seconds"]
    assert isinstance(p50, float) and p50 == pytest.approx(4.0, rel=0.42)
    assert rules.slowdown([before], [now]) == []  # faster
    assert rules.slowdown([now], [figures("job", [1.0] * 2, succeeded=2)]) == []  # too few


def test_saturated_slots() -> None:
    (f,) = rules.saturated_slots(busy_seconds=3600 * 18, range_seconds=3600, slots=20)
    assert f.evidence["busy_share"] == pytest.approx(0.9)
    assert "max_concurrent_jobs" in f.suggestion
    assert rules.saturated_slots(3600 * 5, 3600, 20) == []
    assert rules.saturated_slots(100, 3600, 0) == []  # no live worker: the health check says so


def test_missed_fires() -> None:
    (f,) = rules.missed_fires({"tick": {"overlap": 5, "paused": 1}}, {"tick": 20})
    assert f.evidence["missed"] == 6 and f.evidence["missed_overlap"] == 5
    assert "overlap" in f.message
    assert rules.missed_fires({"tick": {"misfire": 2}}, {"tick": 0}) == []  # too few
    assert rules.missed_fires({"tick": {"misfire": 5}}, {"tick": 1000}) == []  # a small share


def test_nice_seconds() -> None:
    assert [rules.nice_seconds(v) for v in (0.3, 1.0, 1.2, 3, 7, 12.75, 60)] == [
        0.5,
        1.0,
        2.0,
        5.0,
        10.0,
        20.0,
        100.0,
    ]
