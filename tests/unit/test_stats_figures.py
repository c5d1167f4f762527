"""Figures from rollup rows (``domain.stats``): periods, distributions, trends, keys, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.histogram import BOUNDS, bucket_of
from tickwork.domain.stats import (
    DAY,
    EPOCH,
    HOUR,
    LIFETIME,
    MINUTE,
    ByTask,
    Distribution,
    ErrorGroup,
    HistogramRow,
    KeyRow,
    SeriesRow,
    bucket_start,
    errors_by_class,
    key_figures,
    overall,
    peak_hours,
    period_for,
    task_figures,
    trend,
)

T = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def test_bucket_starts_and_periods() -> None:
    assert bucket_start(T, MINUTE) == datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert bucket_start(T, HOUR) == datetime(2026, 3, 4, 5, tzinfo=UTC)
    assert bucket_start(T, 86400) == datetime(2026, 3, 4, tzinfo=UTC)
    assert bucket_start(T, LIFETIME) == EPOCH
    assert period_for(T, T + timedelta(hours=5, minutes=59)) == MINUTE
    assert period_for(T, T + timedelta(hours=6)) == HOUR
    assert period_for(T, T + timedelta(days=2, hours=23)) == HOUR
    assert period_for(T, T + timedelta(days=3)) == DAY


def dist(values: list[float]) -> Distribution:
    d = Distribution()
    for v in values:
        d = d.add(bucket_of(v), 1, v)
    return d


def test_distribution_figures() -> None:
    d = dist([1.0, 2.0, 3.0, 10.0])
    assert d.count == 4 and d.avg == pytest.approx(4.0)
    assert 10.0 <= (d.max or 0) <= 10.0 * 2**0.5
    assert Distribution().avg is None and Distribution().max is None
    assert Distribution().quantile(0.5) is None
    # Above 5 s: the 10 s run only (the bucket of 5 lies under it entirely or holds it).
    assert d.count_above(5.0) == pytest.approx(1.0)
    assert d.count_above(0.0001) == pytest.approx(4.0)
    assert d.count_above(100.0) == 0.0
    # A threshold inside a bucket counts the share of it above (geometrically).
    inside = dist([BOUNDS[10]])
    middle = (BOUNDS[9] * BOUNDS[10]) ** 0.5
    assert inside.count_above(middle) == pytest.approx(0.5)
    merged = d.merge(dist([1.0]))
    assert merged.count == 5 and merged.total == pytest.approx(17.0)


def test_task_figures_count_statuses_and_time_only_timed_runs() -> None:
    rows = [
        HistogramRow("a", "duration", "succeeded", bucket_of(1.0), 3, 3.0),
        HistogramRow("a", "duration", "failed", bucket_of(8.0), 1, 8.0),
        HistogramRow("a", "duration", "skipped", bucket_of(0.0), 2, 0.0),
        HistogramRow("a", "wait", "", bucket_of(0.5), 6, 3.0),
        HistogramRow("b", "duration", "interrupted", bucket_of(9.0), 1, 9.0),
    ]
    a, b = task_figures(rows, thresholds={"b": 1.0})
    assert (a.runs, a.succeeded, a.failed, a.success_rate) == (6, 3, 1, 0.75)
    assert a.durations.count == 4 and a.durations.avg == pytest.approx(11.0 / 4)
    assert a.waits.count == 6
    assert a.slow_threshold_seconds == pytest.approx(2 * (a.durations.quantile(0.95) or 0))
    assert b.runs == 1 and b.success_rate is None and b.durations.count == 0
    assert b.slow_threshold_seconds == 1.0 and b.slow_runs == 0  # interrupted runs are untimed
    both = overall([a, b])
    assert both.task_name == "*" and both.runs == 7 and both.durations.count == 4


def test_trends_peak_hours_keys_and_errors() -> None:
    day = datetime(2026, 3, 4, tzinfo=UTC)
    series = [
        SeriesRow(day + timedelta(hours=1), "succeeded", 2, 4.0),
        SeriesRow(day + timedelta(hours=1, minutes=5), "failed", 1, 1.0),
        SeriesRow(day + timedelta(hours=9), "skipped", 5, 0.0),
        SeriesRow(day + timedelta(days=1, hours=9), "succeeded", 1, 2.0),
    ]
    hourly = trend(series, timedelta(hours=1))
    assert [(p.start.hour, p.runs, p.succeeded, p.failed) for p in hourly] == [
        (1, 3, 2, 1),
        (9, 5, 0, 0),
        (9, 1, 1, 0),
    ]
    assert hourly[0].avg_duration_seconds == pytest.approx(5.0 / 3)
    assert hourly[1].avg_duration_seconds is None
    daily = trend(series, timedelta(days=1))
    assert [(p.start, p.runs) for p in daily] == [(day, 8), (day + timedelta(days=1), 1)]
    assert peak_hours(series) == [(9, 6), (1, 3)]
    keys = key_figures(
        [
            KeyRow("a", "x", "succeeded", 2),
            KeyRow("a", "x", "failed", 2),
            KeyRow("a", "y", "succeeded", 1),
        ]
    )
    assert [(k.key, k.runs, k.success_rate) for k in keys] == [("x", 4, 0.5), ("y", 1, 1.0)]
    groups = [
        ErrorGroup("a", "f1", "E", "network", "m", None, 3),
        ErrorGroup("b", "f2", "E", None, "m", None, 4),
        ErrorGroup("b", "f3", "T", "network", "m", None, 2),
    ]
    assert errors_by_class(groups) == [("network", 5), ("unknown", 4)]


def test_figures_of_rows_by_task_are_kept_with_each_tasks_rows() -> None:
    """Rows ``ByTask`` give the figures of the plain rows; a task's figures are made once per
    chunk of its rows (the same object again: the same figures), and again for new rows or
    another threshold."""
    a = (
        HistogramRow("a", "duration", "succeeded", bucket_of(1.0), 3, 3.0),
        HistogramRow("a", "wait", "", bucket_of(0.5), 3, 1.5),
    )
    b = (HistogramRow("b", "duration", "failed", bucket_of(8.0), 2, 16.0),)
    rows = ByTask([a, (), b])
    assert list(rows) == [*a, *b] and rows.chunks == (a, b)
    first = task_figures(rows)
    assert first == task_figures([*b, *a])
    again = task_figures(ByTask([a, b]))
    assert again[0] is first[0] and again[1] is first[1]
    b2 = (*b, HistogramRow("b", "duration", "succeeded", bucket_of(2.0), 1, 2.0))
    changed = task_figures(ByTask([a, b2]))
    assert changed[0] is first[0] and changed[1].runs == 3
    assert task_figures(ByTask([a, b]), thresholds={"a": 0.5})[0].slow_threshold_seconds == 0.5
    keys = ByTask([(KeyRow("a", "x", "succeeded", 2),), (KeyRow("b", "x", "failed", 5),)])
    assert key_figures(keys) == key_figures(list(keys))
    assert [(f.task_name, f.runs) for f in key_figures(keys)] == [("b", 5), ("a", 2)]
