"""Run analytics from rollups: what is read (``RollupQuery``, the rows of ``RollupData``) and
the figures computed from it, as pure functions. The rollups (``store/rollups.py``) count runs
per task, period and status in the fixed histogram buckets of ``domain.histogram``; every
duration figure here is read from those buckets, so it is within one bucket (a factor of √2)
of the exact value, and usually much closer."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from tickwork.domain.histogram import OVERFLOW, lower_bound, quantile, upper_bound
from tickwork.domain.jobs import RunStatus

MINUTE = 60
HOUR = 3600
DAY = 86400
LIFETIME = 0  # period of the rows that count since the beginning (bucket_start: the epoch)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ranges shorter than this are read from minute rows, longer ones from hour rows.
MINUTE_ROWS_BELOW = timedelta(hours=6)
# Ranges shorter than this (and not shorter than the above) are read from hour rows, longer
# ones from day rows (UTC days): a week of hour rows of 50 busy tasks is ~10^5 rows to sum.
HOUR_ROWS_BELOW = timedelta(days=3)
# What a read returns (``RollupQuery.parts``): per-task histograms, the series (trends, peak
# hours), per-key counts, errors.
# ``HOURLY``: the series by the hour (hourly trends, peak hours) even where the range is read
# from day rows, which costs a scan of its hour rows.
TASKS, SERIES, HOURLY, KEYS, ERRORS_PART = "tasks", "series", "hourly", "keys", "errors"
ALL_PARTS = frozenset({TASKS, SERIES, KEYS, ERRORS_PART})
DURATION = "duration"
WAIT = "wait"
# The runs whose durations make the duration figures: attempts of the task's own work.
# Skipped, deferred and interrupted runs count in ``runs`` only.
TIMED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED})
PROBLEMS = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED})
ERRORS = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT})  # the runs counted by fingerprint
SLOW_FACTOR = 2.0  # a run is slow above this many times its task's p95 (without a threshold)


def bucket_start(when: datetime, period_seconds: int) -> datetime:
    """The start of the period ``when`` falls in (the epoch for the lifetime period)."""
    if period_seconds == LIFETIME:
        return EPOCH
    seconds = int((when - EPOCH).total_seconds() // period_seconds) * period_seconds
    return EPOCH + timedelta(seconds=seconds)


def hour_spans(first: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """The hour rows whose bucket starts in ``[first, end)`` (``first`` on an hour), as
    ``(period, from, to)`` spans of the same rows: the whole UTC days inside as day rows, the
    hours before and after them as hour rows. Day rows sum their hours, so the sums match."""
    day = timedelta(seconds=DAY)
    first_day = bucket_start(first + day - timedelta(microseconds=1), DAY)  # ceiling
    last_hour_end = bucket_start(end - timedelta(microseconds=1), HOUR) + timedelta(hours=1)
    end_day = bucket_start(last_hour_end, DAY)
    if first_day >= end_day:
        return [(HOUR, first, end)]
    spans = [(HOUR, first, first_day), (DAY, first_day, end_day), (HOUR, end_day, end)]
    return [(p, lo, hi) for p, lo, hi in spans if lo < hi]


def period_for(start: datetime, end: datetime) -> int:
    """The rows a range's per-task figures are read from: minutes below ``MINUTE_ROWS_BELOW``,
    hours below ``HOUR_ROWS_BELOW``, else days."""
    if end - start < MINUTE_ROWS_BELOW:
        return MINUTE
    return HOUR if end - start < HOUR_ROWS_BELOW else DAY


@dataclass(frozen=True)
class RollupQuery:
    """Rollup rows whose bucket starts in ``[bucket_start(start), end)``: a range is widened to
    the whole periods it touches (the series: to ``series_period``; keys and errors: to hours).
    ``tasks`` None: every task; ``key``: only that key's rows (per-key rollups carry counts by
    status only); ``parts``: what to read."""

    start: datetime
    end: datetime
    period_seconds: int
    tasks: tuple[str, ...] | None = None
    key: str | None = None
    parts: frozenset[str] = ALL_PARTS

    @property
    def first_bucket(self) -> datetime:
        return bucket_start(self.start, self.period_seconds)

    @property
    def series_period(self) -> int:
        """The series' rows: the range's own, or hours at least with ``HOURLY``."""
        return min(self.period_seconds, HOUR) if HOURLY in self.parts else self.period_seconds


# The rows a read returns are named tuples, cheaper to make than frozen dataclasses (a read of
# a month makes tens of thousands); their ``count`` field shadows ``tuple.count``, unused.
class HistogramRow(NamedTuple):
    """One task's runs of one status (``measure`` "duration") or its waits ("wait", status
    ""), in one bucket, summed over the range."""

    task_name: str
    measure: str
    status: str
    bucket: int
    count: int  # type: ignore[assignment]
    total: float


class SeriesRow(NamedTuple):
    """Runs of one status that started in one period (a minute or an hour)."""

    bucket_start: datetime
    status: str
    count: int  # type: ignore[assignment]
    total: float  # seconds of duration


class KeyRow(NamedTuple):
    task_name: str
    key: str
    status: str
    count: int  # type: ignore[assignment]


class ErrorRow(NamedTuple):
    task_name: str
    fingerprint: str
    error_type: str | None
    error_class: str | None
    message: str | None  # one sample
    frame: str | None
    count: int  # type: ignore[assignment]


_R = TypeVar("_R")
_MISSING = object()


class ByTask(list[_R]):
    """Rows of several tasks, in task order, each task's rows one tuple (``chunks``). A store
    hands the very same tuple again while a task's rows are unchanged, so the figures of a
    task are computed once per change of its rows (``task_figures``, ``key_figures``), not on
    every read. Otherwise a plain list of the rows."""

    def __init__(self, chunks: Iterable[tuple[_R, ...]]) -> None:
        self.chunks = tuple(c for c in chunks if c)
        super().__init__(chain.from_iterable(self.chunks))


class _Memo:
    """Results kept per chunk of rows by identity (the chunk is held, so its id is not reused)
    and by the arguments the result also depends on; least recently used go first."""

    def __init__(self, entries: int = 2000) -> None:
        self.entries = entries
        self._found: OrderedDict[int, tuple[tuple[Any, ...], Any, Any]] = OrderedDict()
        self._lock = threading.Lock()  # reports are made on several threads

    def get(self, chunk: tuple[Any, ...], args: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._found.get(id(chunk))
            if found is not None and found[0] is chunk and found[1] == args:
                self._found.move_to_end(id(chunk))
                return found[2]
        made = make()
        with self._lock:
            self._found[id(chunk)] = (chunk, args, made)
            self._found.move_to_end(id(chunk))
            while len(self._found) > self.entries:
                self._found.popitem(last=False)
        return made


_TASK_FIGURES = _Memo()
_KEY_FIGURES = _Memo()


@dataclass(frozen=True)
class RollupData:
    histograms: list[HistogramRow]
    series: list[SeriesRow]
    keys: list[KeyRow]
    errors: list[ErrorRow]


# --- figures ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Distribution:
    """Values counted in histogram buckets: how many, their sum, and quantiles. Never changed
    once made (``add`` and ``merge`` make new ones), so each figure is computed once and kept
    with it: a task's figures are kept while its rows are (``task_figures``), and every read
    and insight rule asks them again."""

    buckets: dict[int, int] = field(default_factory=dict)
    total: float = 0.0
    _kept: dict[tuple[str, float], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _figure(self, name: str, arg: float, make: Callable[[], Any]) -> Any:
        # Two threads may both compute a figure: they store the same value.
        found = self._kept.get((name, arg), _MISSING)
        if found is _MISSING:
            found = self._kept[name, arg] = make()
        return found

    @property
    def count(self) -> int:
        n: int = self._figure("count", 0.0, lambda: sum(self.buckets.values()))
        return n

    @property
    def avg(self) -> float | None:
        n = self.count
        return self.total / n if n else None

    def quantile(self, q: float) -> float | None:
        value: float | None = self._figure("quantile", q, partial(quantile, self.buckets, q))
        return value

    @property
    def max(self) -> float | None:
        """The upper bound of the highest bucket used: within one bucket of the true maximum
        (the last bound when values overflowed)."""
        used = [b for b, n in self.buckets.items() if n > 0]
        if not used:
            return None
        top = max(used)
        return upper_bound(top) if top < OVERFLOW else lower_bound(top)

    def count_above(self, threshold: float) -> float:
        """Values above ``threshold``: whole buckets above it, and the share of the bucket that
        holds it that lies above it (geometric, as ``quantile`` interpolates)."""
        above: float = self._figure("above", threshold, partial(self._count_above, threshold))
        return above

    def _count_above(self, threshold: float) -> float:
        above = 0.0
        for bucket, n in self.buckets.items():
            low, high = lower_bound(bucket), upper_bound(bucket)
            if low >= threshold:
                above += n
            elif high > threshold:  # the bucket holding the threshold
                if math.isinf(high):
                    above += n
                elif low == 0.0:
                    above += n * (1 - threshold / high)
                else:
                    above += n * math.log(high / threshold) / math.log(high / low)
        return above

    def add(self, bucket: int, count: int, total: float) -> Distribution:
        merged = dict(self.buckets)
        merged[bucket] = merged.get(bucket, 0) + count
        return Distribution(merged, self.total + total)

    def merge(self, other: Distribution) -> Distribution:
        merged = dict(self.buckets)
        for bucket, n in other.buckets.items():
            merged[bucket] = merged.get(bucket, 0) + n
        return Distribution(merged, self.total + other.total)


def success_rate(by_status: Mapping[str, int]) -> float | None:
    """Succeeded runs among those that succeeded or failed (``PROBLEMS``); None without any:
    skipped, deferred and interrupted runs say nothing about the task's own work."""
    succeeded = by_status.get(RunStatus.SUCCEEDED.value, 0)
    decided = succeeded + sum(by_status.get(s.value, 0) for s in PROBLEMS)
    return None if decided == 0 else succeeded / decided


@dataclass(frozen=True)
class TaskFigures:
    task_name: str
    by_status: dict[str, int]
    durations: Distribution  # timed runs (``TIMED``)
    waits: Distribution  # due → start, every run
    slow_threshold_seconds: float | None = None
    slow_runs: int = 0

    @property
    def runs(self) -> int:
        return sum(self.by_status.values())

    @property
    def succeeded(self) -> int:
        return self.by_status.get(RunStatus.SUCCEEDED.value, 0)

    @property
    def failed(self) -> int:
        """Failed, timed out and cancelled runs."""
        return sum(self.by_status.get(s.value, 0) for s in PROBLEMS)

    @property
    def success_rate(self) -> float | None:
        return success_rate(self.by_status)


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    runs: int
    succeeded: int
    failed: int
    duration_seconds: float  # summed over the timed runs (avg = this / timed)
    timed: int

    @property
    def avg_duration_seconds(self) -> float | None:
        return self.duration_seconds / self.timed if self.timed else None


@dataclass(frozen=True)
class KeyFigures:
    task_name: str
    key: str
    runs: int
    succeeded: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        decided = self.succeeded + self.failed
        return None if decided == 0 else self.succeeded / decided


@dataclass(frozen=True)
class ErrorGroup:
    task_name: str
    fingerprint: str
    error_type: str | None
    error_class: str | None
    message: str | None
    frame: str | None
    count: int


def task_figures(
    rows: Iterable[HistogramRow],
    thresholds: Mapping[str, float] | None = None,
    slow_factor: float = SLOW_FACTOR,
) -> list[TaskFigures]:
    """Per task, sorted by name: runs by status, the duration and wait distributions, and slow
    runs — above the task's own threshold in ``thresholds``, else above ``slow_factor`` × its
    p95. Rows ``ByTask``: each task's figures kept with its chunk of rows."""
    if isinstance(rows, ByTask):
        out: list[TaskFigures] = []
        for chunk in rows.chunks:
            args = ((thresholds or {}).get(chunk[0].task_name), slow_factor)
            out += _TASK_FIGURES.get(
                chunk, args, partial(_task_figures, chunk, thresholds, slow_factor)
            )
        return sorted(out, key=lambda f: f.task_name)
    return _task_figures(rows, thresholds, slow_factor)


def _task_figures(
    rows: Iterable[HistogramRow], thresholds: Mapping[str, float] | None, slow_factor: float
) -> list[TaskFigures]:
    statuses: dict[str, dict[str, int]] = {}
    # Per task: bucket counts and the summed seconds, in mutable form (a Distribution each at
    # the end, the sums added in the rows' order as ``Distribution.add`` would).
    durations: dict[str, tuple[dict[int, int], list[float]]] = {}
    waits: dict[str, tuple[dict[int, int], list[float]]] = {}
    timed = {s.value for s in TIMED}
    for r in rows:
        by = statuses.setdefault(r.task_name, {})
        if r.measure == DURATION:
            by[r.status] = by.get(r.status, 0) + r.count
            if r.status not in timed:
                continue
            into = durations
        elif r.measure == WAIT:
            into = waits
        else:
            continue
        found = into.get(r.task_name)
        if found is None:
            found = into[r.task_name] = ({}, [0.0])
        buckets, total = found
        buckets[r.bucket] = buckets.get(r.bucket, 0) + r.count
        total[0] += r.total

    def distribution(of: dict[str, tuple[dict[int, int], list[float]]], name: str) -> Distribution:
        found = of.get(name)
        return Distribution() if found is None else Distribution(found[0], found[1][0])

    figures = []
    for name in sorted(statuses):
        dist = distribution(durations, name)
        threshold = (thresholds or {}).get(name)
        if threshold is None:
            p95 = dist.quantile(0.95)
            threshold = None if p95 is None else p95 * slow_factor
        slow = 0 if threshold is None else round(dist.count_above(threshold))
        figures.append(
            TaskFigures(
                task_name=name,
                by_status=dict(sorted(statuses[name].items())),
                durations=dist,
                waits=distribution(waits, name),
                slow_threshold_seconds=threshold,
                slow_runs=slow,
            )
        )
    return figures


def overall(figures: Sequence[TaskFigures]) -> TaskFigures:
    """Every task's figures together (named "*")."""
    by_status: dict[str, int] = {}
    # Merged in place (as ``Distribution.merge`` adds, in the same order): one dictionary each,
    # not a copy per task.
    durations: dict[int, int] = {}
    waits: dict[int, int] = {}
    duration_total = wait_total = 0.0
    for f in figures:
        for status, n in f.by_status.items():
            by_status[status] = by_status.get(status, 0) + n
        for into, of in ((durations, f.durations), (waits, f.waits)):
            for bucket, n in of.buckets.items():
                into[bucket] = into.get(bucket, 0) + n
        duration_total += f.durations.total
        wait_total += f.waits.total
    return TaskFigures(
        "*",
        dict(sorted(by_status.items())),
        Distribution(durations, duration_total),
        Distribution(waits, wait_total),
        slow_runs=sum(f.slow_runs for f in figures),
    )


def trend(rows: Iterable[SeriesRow], period: timedelta) -> list[TrendPoint]:
    """Runs per ``period`` (an hour or a day, UTC), oldest first; periods without runs absent."""
    step = int(period.total_seconds())
    timed = {s.value for s in TIMED}
    problems = {s.value for s in PROBLEMS}
    succeeded = RunStatus.SUCCEEDED.value
    points: dict[datetime, list[float]] = {}
    starts: dict[datetime, list[float]] = {}  # a row's start → its point (rows share starts)
    for r in rows:
        p = starts.get(r.bucket_start)
        if p is None:
            p = starts[r.bucket_start] = points.setdefault(
                bucket_start(r.bucket_start, step), [0, 0, 0, 0.0, 0]
            )
        p[0] += r.count
        if r.status == succeeded:
            p[1] += r.count
        elif r.status in problems:
            p[2] += r.count
        if r.status in timed:
            p[3] += r.total
            p[4] += r.count
    return [
        TrendPoint(start, int(p[0]), int(p[1]), int(p[2]), float(p[3]), int(p[4]))
        for start, p in sorted(points.items())
    ]


def peak_hours(rows: Iterable[SeriesRow], top: int = 5) -> list[tuple[int, int]]:
    """(UTC hour of day, runs), busiest first (ties: earlier hour), at most ``top``."""
    hours: dict[int, int] = {}
    for r in rows:
        h = r.bucket_start.hour
        hours[h] = hours.get(h, 0) + r.count
    return sorted(hours.items(), key=lambda hn: (-hn[1], hn[0]))[:top]


def key_figures(rows: Iterable[KeyRow]) -> list[KeyFigures]:
    """Per task and key, most runs first (ties: task, key). Rows ``ByTask``: each task's
    figures kept with its chunk of rows."""
    if isinstance(rows, ByTask):
        keyed: list[KeyFigures] = []
        for chunk in rows.chunks:
            keyed += _KEY_FIGURES.get(chunk, None, partial(_key_figures, chunk))
    else:
        keyed = _key_figures(rows)
    return sorted(keyed, key=lambda f: (-f.runs, f.task_name, f.key))


def _key_figures(rows: Iterable[KeyRow]) -> list[KeyFigures]:
    found: dict[tuple[str, str], list[int]] = {}
    problems = {s.value for s in PROBLEMS}
    for r in rows:
        k = found.setdefault((r.task_name, r.key), [0, 0, 0])
        k[0] += r.count
        if r.status == RunStatus.SUCCEEDED.value:
            k[1] += r.count
        elif r.status in problems:
            k[2] += r.count
    return [KeyFigures(t, k, *n) for (t, k), n in found.items()]


def error_groups(rows: Iterable[ErrorRow]) -> list[ErrorGroup]:
    """By fingerprint, most frequent first (ties: task, fingerprint)."""
    groups = [
        ErrorGroup(
            r.task_name, r.fingerprint, r.error_type, r.error_class, r.message, r.frame, r.count
        )
        for r in rows
    ]
    return sorted(groups, key=lambda g: (-g.count, g.task_name, g.fingerprint))


def errors_by_class(groups: Iterable[ErrorGroup]) -> list[tuple[str, int]]:
    """(error class, failures), most first; failures without a class count as "unknown"."""
    classes: dict[str, int] = {}
    for g in groups:
        name = g.error_class or "unknown"
        classes[name] = classes.get(name, 0) + g.count
    return sorted(classes.items(), key=lambda cn: (-cn[1], cn[0]))
