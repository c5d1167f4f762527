"""Run analytics over a date range, read from the rollups only (``store/rollups.py``), never
from the runs table: per task runs, success rate, durations (avg, p50/p95/p99, max), queue wait
(p50/p95) and slow runs; daily and hourly trends; peak hours; per-key success; errors by class
and by fingerprint.

Ranges shorter than ``domain.stats.MINUTE_ROWS_BELOW`` (6 h) are read from minute rows, shorter
than ``HOUR_ROWS_BELOW`` (3 days) from hour rows, longer ones from day rows (UTC days); either
way the range is widened to the whole periods it touches (its start rounded down to the
period; hourly trends and peak hours to the hour at least; per-key and error figures to the
hour). Figures from the
histogram buckets are within one bucket (√2) of the exact ones.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tickwork.domain import stats as figures
from tickwork.domain.durations import parse_duration
from tickwork.domain.stats import (
    ALL_PARTS,
    ERRORS_PART,
    HOUR,
    HOURLY,
    KEYS,
    SERIES,
    TASKS,
    ErrorGroup,
    KeyFigures,
    RollupData,
    RollupQuery,
    TaskFigures,
    TrendPoint,
)
from tickwork.errors import ConfigError
from tickwork.store.base import Store

MAX_RANGE_DAYS = 366
BY = ("day", "hour", "key", "error")  # the views of ``tickwork stats --by``
DEFAULT_SINCE = timedelta(days=7)


@dataclass(frozen=True)
class StatsRequest:
    start: datetime
    end: datetime
    task: str | None = None
    tag: str | None = None
    key: str | None = None
    # Not kept in rollups: refused with a ConfigError naming it (see ``check_request``).
    trigger: str | None = None


@dataclass(frozen=True)
class StatsReport:
    start: datetime  # as asked
    end: datetime
    period_seconds: int  # 60 or 3600: the rows read
    first_bucket: datetime  # the range's start, rounded down to the period
    key: str | None  # with a key: counts by status only (no durations, waits or errors)
    tasks: list[TaskFigures]
    overall: TaskFigures
    daily: list[TrendPoint]
    hourly: list[TrendPoint]
    peak_hours: list[tuple[int, int]]
    keys: list[KeyFigures]
    errors: list[ErrorGroup]
    errors_by_class: list[tuple[str, int]]


def check_range(start: datetime, end: datetime) -> None:
    """A range: aware times, start before end, at most ``MAX_RANGE_DAYS`` long."""
    for name, when in (("start", start), ("end", end)):
        if when.tzinfo is None:
            raise ConfigError(f"time {when.isoformat()} has no UTC offset", field=name)
    if start >= end:
        raise ConfigError(
            f"start {start.isoformat()} must be before end {end.isoformat()}", field="start"
        )
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise ConfigError(
            f"the range is {(end - start).days} days; at most {MAX_RANGE_DAYS} days per query",
            field="end",
        )


def parse_moment(value: str, now: datetime, field: str) -> datetime:
    """A range's edge as both adapters take it: a duration back from now (``7d``, ``12h``), an
    ISO 8601 time with a UTC offset, or a date (midnight UTC)."""
    text = value.strip()
    if text[:1].isdigit() and text[-1:].isalpha() and "-" not in text and ":" not in text:
        return now - timedelta(seconds=parse_duration(text, field=field))
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"expected a duration back from now like 7d, an ISO 8601 time like"
            f" 2026-01-31T00:00:00Z or a date, got {value[:40]!r}",
            field=field,
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {text!r} has no UTC offset (add Z or +hh:mm)", field=field)
    return parsed.astimezone(UTC)


def request_of(
    now: datetime,
    *,
    since: str | None = None,
    until: str | None = None,
    task: str | None = None,
    tag: str | None = None,
    key: str | None = None,
    trigger: str | None = None,
    default_since: timedelta = DEFAULT_SINCE,
) -> StatsRequest:
    """A request from an adapter's text: ``since`` (default 7 days back) and ``until``
    (default now) as ``parse_moment`` takes them; checked (``check_request``)."""
    end = now if until is None else parse_moment(until, now, "until")
    start = end - default_since if since is None else parse_moment(since, now, "since")
    if start >= end:
        raise ConfigError(
            f"must be before until ({end.isoformat()}), got {start.isoformat()}", field="since"
        )
    request = StatsRequest(start, end, task=task, tag=tag, key=key, trigger=trigger)
    check_request(request)
    return request


def check_by(by: str | None) -> str | None:
    """A view of the figures (``BY``), or None for all of them."""
    if by is not None and by not in BY:
        raise ConfigError(f"expected one of {', '.join(BY)}, got {by[:40]!r}", field="by")
    return by


_PARTS_OF_VIEW = {
    "day": {SERIES},
    "hour": {SERIES, HOURLY},
    "key": {KEYS},
    "error": {ERRORS_PART},
}


def parts_for(by: str | None) -> frozenset[str]:
    """What a view reads: the per-task figures and that view's parts; None: every part but
    ``HOURLY`` (ranges of days then have daily trends only: ask for the hour view)."""
    return ALL_PARTS if by is None else frozenset({TASKS, *_PARTS_OF_VIEW[by]})


def check_request(request: StatsRequest) -> None:
    check_range(request.start, request.end)
    if request.trigger is not None:
        raise ConfigError(
            "statistics are kept per task, key and status, not per trigger; list a trigger's"
            " runs with `tickwork jobs history` or GET /api/runs?triggered_by=...",
            field="trigger",
        )


async def task_names(store: Store, task: str | None, tag: str | None) -> tuple[str, ...] | None:
    """The tasks a request covers: None for all; a tag's tasks (from the definitions)."""
    if tag is None:
        return None if task is None else (task,)
    tagged = sorted(t.name for t in await store.list_tasks() if tag in t.definition.tags)
    return tuple(n for n in tagged if task is None or n == task)


async def read(
    store: Store, request: StatsRequest, parts: frozenset[str] = ALL_PARTS
) -> tuple[RollupQuery, RollupData]:
    check_request(request)
    names = await task_names(store, request.task, request.tag)
    query = RollupQuery(
        request.start,
        request.end,
        figures.period_for(request.start, request.end),
        tasks=names,
        key=request.key,
        parts=parts,
    )
    if names == ():
        return query, RollupData([], [], [], [])
    return query, await store.read_rollups(query)


def report(
    request: StatsRequest, query: RollupQuery, data: RollupData, trends: bool = True
) -> StatsReport:
    """The figures of ``data``; without ``trends`` no daily or hourly points (peak hours are
    still made of the series)."""
    per_task = figures.task_figures(data.histograms)
    if request.key is not None:
        # Per-key rows carry counts by status only: the per-task figures come from them.
        counts: dict[str, dict[str, int]] = {}
        for k in data.keys:
            by = counts.setdefault(k.task_name, {})
            by[k.status] = by.get(k.status, 0) + k.count
        per_task = [
            TaskFigures(
                name, dict(sorted(by.items())), figures.Distribution(), figures.Distribution()
            )
            for name, by in sorted(counts.items())
        ]
    errors = figures.error_groups(data.errors)
    # Series read from day rows make daily trends only.
    hourly = query.series_period <= HOUR
    return StatsReport(
        start=request.start,
        end=request.end,
        period_seconds=query.period_seconds,
        first_bucket=query.first_bucket,
        key=request.key,
        tasks=per_task,
        overall=figures.overall(per_task),
        daily=figures.trend(data.series, timedelta(days=1)) if trends else [],
        hourly=figures.trend(data.series, timedelta(hours=1)) if hourly and trends else [],
        peak_hours=figures.peak_hours(data.series) if hourly else [],
        keys=figures.key_figures(data.keys),
        errors=errors,
        errors_by_class=figures.errors_by_class(errors),
    )


class _Reports:
    """Reports kept with the rows they were made of. A store hands the very same lists of rows
    again while none of the days and hours they sum has changed (``store/rollup_cache.py``:
    a settled range, such as the period before one ending now), and lists are never changed
    once handed; so a report made of the same lists (held here, so their ids are not reused)
    is the same report, and is not made again. Empty lists (parts not read) match any empty
    list. Least recently used go first."""

    def __init__(self, entries: int = 32) -> None:
        self.entries = entries
        self._kept: OrderedDict[Hashable, tuple[tuple[list[Any], ...], StatsReport]] = OrderedDict()
        self._lock = threading.Lock()  # the event loops of several threads may share a store

    @staticmethod
    def _rows(data: RollupData) -> tuple[list[Any], ...]:
        return (data.histograms, data.series, data.keys, data.errors)

    def get(self, key: Hashable, data: RollupData) -> StatsReport | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            rows, made = found
            if not all(a is b or not (a or b) for a, b in zip(rows, self._rows(data), strict=True)):
                return None
            self._kept.move_to_end(key)
            return made

    def put(self, key: Hashable, data: RollupData, made: StatsReport) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._kept[key] = (self._rows(data), made)
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)


# Per store: each hands its own lists (one without a cache, new ones on every read).
_REPORTS: weakref.WeakKeyDictionary[Store, _Reports] = weakref.WeakKeyDictionary()
_REPORTS_LOCK = threading.Lock()


def _reports_of(store: Store) -> _Reports:
    with _REPORTS_LOCK:
        found = _REPORTS.get(store)
        if found is None:
            found = _REPORTS[store] = _Reports()
        return found


async def stats_report(
    store: Store, request: StatsRequest, parts: frozenset[str] = ALL_PARTS, *, trends: bool = True
) -> StatsReport:
    """The figures of ``request`` (``ConfigError`` naming a bad range or the trigger filter);
    only ``parts`` are read (``domain.stats``: the others come back empty); without ``trends``
    no daily or hourly points. A report made of the very rows of an earlier read is that
    read's (``_Reports``)."""
    query, data = await read(store, request, parts)
    key, kept = (request, query, trends), _reports_of(store)
    found = kept.get(key, data)
    if found is None:
        found = report(request, query, data, trends)
        kept.put(key, data, found)
    return found


async def per_minute(store: Store, end: datetime, minutes: int = 60) -> list[TrendPoint]:
    """Runs per minute over the ``minutes`` before ``end`` (every task; minutes without runs
    absent), from the minute series rows: the overview's live throughput."""
    if not 1 <= minutes <= 360:
        raise ConfigError(f"must be 1..360 minutes, got {minutes}", field="minutes")
    request = StatsRequest(end - timedelta(minutes=minutes), end)
    _, data = await read(store, request, frozenset({SERIES}))
    return figures.trend(data.series, timedelta(minutes=1))
