"""Rollups in SQL (both dialects): the rows a batch of finished runs adds, built here once for
every writer (SQLite's and PostgreSQL's ``complete``, the interrupted runs of ``jobs``), and
the reads the analytics make of them.

A batch is aggregated in Python first — per task, period and bucket start, by status and
histogram bucket — so each table gets one multi-row upsert whose rows add to ``count`` and
``total`` (``ON CONFLICT ... DO UPDATE SET count = count + excluded.count``): concurrent workers
never lose an update. Rows go in sorted by primary key, so two PostgreSQL transactions lock
shared rows in the same order and never deadlock on them. Runs are filed under the period they
started in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.fingerprints import MESSAGE_LIMIT, fingerprint
from tickwork.domain.histogram import bucket_of
from tickwork.domain.jobs import Completion, Job, RunStatus
from tickwork.domain.stats import (
    DAY,
    DURATION,
    ERRORS,
    ERRORS_PART,
    HOUR,
    KEYS,
    LIFETIME,
    MINUTE,
    SERIES,
    TASKS,
    WAIT,
    ErrorRow,
    HistogramRow,
    KeyRow,
    RollupData,
    RollupQuery,
    SeriesRow,
    bucket_start,
    hour_spans,
)
from tickwork.store.backend import Backend
from tickwork.store.rollup_cache import (
    Known,
    Part,
    RollupCache,
    Span,
    first_of,
    plus,
    summed,
)
from tickwork.store.rows import CORE, Codec
from tickwork.store.schema import (
    error_rollups,
    key_rollups,
    missed_fires,
    rollups,
    series_rollups,
)

# Day rows (86,400) serve ranges of days and more; the schema's comment names 60, 3600 and 0.
PERIODS = (MINUTE, HOUR, DAY, LIFETIME)
ROLLUP_COLUMNS = tuple(c.name for c in rollups.c)
KEY_ROLLUP_COLUMNS = tuple(c.name for c in key_rollups.c)
ERROR_ROLLUP_COLUMNS = tuple(c.name for c in error_rollups.c)
SERIES_ROLLUP_COLUMNS = tuple(c.name for c in series_rollups.c)
_ERROR_STATUSES = frozenset(s.value for s in ERRORS)


class Finished(NamedTuple):
    """One run as the rollups see it (a named tuple: one is made per run, on the hot path)."""

    task_name: str
    status: str
    started_at: datetime
    duration_seconds: float
    wait_seconds: float | None  # due → start; None when the due time is not known
    key: str | None
    error_type: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    traceback: str | None = None


def finished_of_completion(c: Completion) -> Finished:
    o = c.outcome
    wait = None if c.due_at is None else max((c.started_at - c.due_at).total_seconds(), 0.0)
    return Finished(
        task_name=c.task_name,
        status=o.status.value,
        started_at=c.started_at,
        duration_seconds=max((c.finished_at - c.started_at).total_seconds(), 0.0),
        wait_seconds=wait,
        key=c.key,
        error_type=o.error_type,
        error_class=o.error_class.value if o.error_class else None,
        error_message=o.error_message,
        traceback=o.traceback,
    )


def finished_of_interrupted(job: Job, now: datetime) -> Finished:
    """A run taken back from its worker (``rows.interrupted_run_values``: same start)."""
    started = job.started_at or now
    return Finished(
        task_name=job.task_name,
        status=RunStatus.INTERRUPTED.value,
        started_at=started,
        duration_seconds=max((now - started).total_seconds(), 0.0),
        wait_seconds=max((started - job.scheduled_at).total_seconds(), 0.0),
        key=job.key,
    )


@dataclass(frozen=True)
class RollupRows:
    """What a batch adds, each list sorted by primary key, in its table's column order."""

    rollups: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    errors: list[tuple[Any, ...]]
    series: list[tuple[Any, ...]]


def rollup_rows(batch: Iterable[Finished], codec: Codec = CORE) -> RollupRows:
    """The rows a batch adds. This runs in every worker's completion path, per run: runs are
    summed per minute first (two dictionary updates each, times as epoch seconds), and the
    hour and lifetime rows are then summed from the minute rows, which are few."""
    durations: dict[tuple[str, float, str, int], list[float]] = {}
    waits: dict[tuple[str, float, int], list[float]] = {}
    keys: dict[tuple[str, str, float, str], int] = {}
    errors: dict[tuple[str, float, str], list[Any]] = {}
    for f in batch:
        epoch = f.started_at.timestamp()
        minute = epoch - epoch % MINUTE
        seconds = f.duration_seconds
        pk = (f.task_name, minute, f.status, bucket_of(seconds))
        found = durations.get(pk)
        if found is None:
            durations[pk] = [1, seconds]
        else:
            found[0] += 1
            found[1] += seconds
        wait = f.wait_seconds
        if wait is not None:
            wpk = (f.task_name, minute, bucket_of(wait))
            found = waits.get(wpk)
            if found is None:
                waits[wpk] = [1, wait]
            else:
                found[0] += 1
                found[1] += wait
        if f.key is not None or f.status in _ERROR_STATUSES:
            hour = epoch - epoch % HOUR
            if f.key is not None:
                kpk = (f.task_name, f.key, hour, f.status)
                keys[kpk] = keys.get(kpk, 0) + 1
            if f.status in _ERROR_STATUSES:
                print_ = fingerprint(f.error_type, f.error_message, f.traceback)
                epk = (f.task_name, hour, print_.fingerprint)
                error = errors.get(epk)
                if error is None:
                    sample = None if f.error_message is None else f.error_message[:MESSAGE_LIMIT]
                    errors[epk] = [f.error_type, f.error_class, sample, print_.frame, 1]
                else:
                    error[-1] += 1
    sums: dict[tuple[int, float, str, str, str, int], list[float]] = {}
    series: dict[tuple[int, float, str, str], list[float]] = {}

    def add(
        task: str, minute: float, measure: str, status: str, bucket: int, n: float, total: float
    ) -> None:
        for period, start in (
            (MINUTE, minute),
            (HOUR, minute - minute % HOUR),
            (DAY, minute - minute % DAY),
            (LIFETIME, 0.0),
        ):
            row = (period, start, task, measure, status, bucket)
            found = sums.get(row)
            if found is None:
                sums[row] = [n, total]
            else:
                found[0] += n
                found[1] += total

    for (task, minute, status, bucket), (n, total) in durations.items():
        add(task, minute, DURATION, status, bucket, n, total)
        for period, start in (
            (MINUTE, minute),
            (HOUR, minute - minute % HOUR),
            (DAY, minute - minute % DAY),
        ):
            spk = (period, start, task, status)
            found = series.get(spk)
            if found is None:
                series[spk] = [n, total]
            else:
                found[0] += n
                found[1] += total
    for (task, minute, bucket), (n, total) in waits.items():
        add(task, minute, WAIT, "", bucket, n, total)
    # Per-key and error rows: the hour's and the day's (both few: summed per hour above).
    keyed: dict[tuple[int, float, str, str, str], int] = {}
    for (task, key, hour, status), n in keys.items():
        for period, start in ((HOUR, hour), (DAY, hour - hour % DAY)):
            keyed_pk = (period, start, task, key, status)
            keyed[keyed_pk] = keyed.get(keyed_pk, 0) + n
    failed: dict[tuple[int, float, str, str], list[Any]] = {}
    for (task, hour, fp), error in errors.items():
        for period, start in ((HOUR, hour), (DAY, hour - hour % DAY)):
            failed_pk = (period, start, task, fp)
            found_error = failed.get(failed_pk)
            if found_error is None:
                failed[failed_pk] = list(error)
            else:
                found_error[-1] += error[-1]
    time = codec.encode_time
    # A batch's rows start at a few distinct times (its minutes, hours, days): each encoded once.
    encoded: dict[float, Any] = {}

    def at(epoch: float) -> Any:
        found = encoded.get(epoch)
        if found is None:
            found = encoded[epoch] = time(datetime.fromtimestamp(epoch, UTC))
        return found

    return RollupRows(
        rollups=[
            (period, at(start), task, measure, status, bucket, int(n), total)
            for (period, start, task, measure, status, bucket), (n, total) in sorted(sums.items())
        ],
        keys=[
            (period, at(start), task, key, status, n)
            for (period, start, task, key, status), n in sorted(keyed.items())
        ],
        errors=[
            (period, at(start), task, fp, *error)
            for (period, start, task, fp), error in sorted(failed.items())
        ],
        series=[
            (period, at(start), task, status, int(n), total)
            for (period, start, task, status), (n, total) in sorted(series.items())
        ],
    )


# What an upsert adds to the row it meets: the statements of both dialects end with this.
ADDED = {
    rollups.name: ("count", "total"),
    key_rollups.name: ("count",),
    error_rollups.name: ("count",),
    series_rollups.name: ("count", "total"),
}


def on_conflict_sql(table: sa.Table) -> str:
    """``ON CONFLICT (primary key) DO UPDATE`` adding the batch's counts (and totals) to the
    stored ones; the samples of an error row stay the first ones seen."""
    pk = ", ".join(c.name for c in table.primary_key.columns)
    added = ", ".join(f"{n} = {table.name}.{n} + excluded.{n}" for n in ADDED[table.name])
    return f"ON CONFLICT ({pk}) DO UPDATE SET {added}"


def upsert(conn: Connection, backend: Backend, batch: Iterable[Finished]) -> None:
    """Add a batch's rollups in the caller's transaction (Core: the paths off the hot ones)."""
    rows = rollup_rows(batch)
    for table, names, values in (
        (rollups, ROLLUP_COLUMNS, rows.rollups),
        (key_rollups, KEY_ROLLUP_COLUMNS, rows.keys),
        (error_rollups, ERROR_ROLLUP_COLUMNS, rows.errors),
        (series_rollups, SERIES_ROLLUP_COLUMNS, rows.series),
    ):
        if not values:
            continue
        stmt = backend.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={n: table.c[n] + stmt.excluded[n] for n in ADDED[table.name]},
        )
        conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in values])


# --- reads -----------------------------------------------------------------------------------
def _hour_spans(q: RollupQuery) -> list[Span]:
    """The spans of rows that sum the hours of ``q``'s range: day rows for its whole days,
    hour rows for the rest (``hour_spans``)."""
    return hour_spans(bucket_start(q.start, HOUR), q.end)


def _within(table: sa.Table, q: RollupQuery, *where: Any) -> Callable[[Sequence[Span]], list[Any]]:
    """Where-clauses of the rows of ``table`` in some spans, of ``q``'s tasks, and ``where``."""
    c = table.c
    tasks = [] if q.tasks is None else [c.task_name.in_(q.tasks)]

    def clauses(spans: Sequence[Span]) -> list[Any]:
        ranges = [
            sa.and_(c.period_seconds == period, c.bucket_start >= lo, c.bucket_start < hi)
            for period, lo, hi in spans
        ]
        return [sa.or_(*ranges), *tasks, *where]

    return clauses


_r, _s, _k, _e = rollups.c, series_rollups.c, key_rollups.c, error_rollups.c
_HISTOGRAMS = Part(
    "histograms",
    4,
    (plus, plus),
    lambda where: (
        sa.select(
            _r.task_name,
            _r.measure,
            _r.status,
            _r.bucket,
            sa.func.sum(_r.count),
            sa.func.sum(_r.total),
        )
        .where(*where)
        .group_by(_r.task_name, _r.measure, _r.status, _r.bucket)
    ),
    lambda g, v: HistogramRow(g[0], g[1], g[2], int(g[3]), int(v[0]), float(v[1])),
    hours_for_days=True,
    task=_r.task_name,
)
_SERIES = Part(
    "series",
    2,
    (plus, plus),
    lambda where: (
        sa.select(_s.bucket_start, _s.status, sa.func.sum(_s.count), sa.func.sum(_s.total))
        .where(*where)
        .group_by(_s.bucket_start, _s.status)
    ),
    lambda g, v: SeriesRow(g[0], g[1], int(v[0]), float(v[1])),
)
_KEYS = Part(
    "keys",
    3,
    (plus,),
    lambda where: (
        sa.select(_k.task_name, _k.key, _k.status, sa.func.sum(_k.count))
        .where(*where)
        .group_by(_k.task_name, _k.key, _k.status)
    ),
    lambda g, v: KeyRow(g[0], g[1], g[2], int(v[0])),
    hours_for_days=True,
    task=_k.task_name,
)
_KEYED_SERIES = Part(
    "keyed series",
    2,
    (plus,),
    lambda where: (
        sa.select(_k.bucket_start, _k.status, sa.func.sum(_k.count))
        .where(*where)
        .group_by(_k.bucket_start, _k.status)
    ),
    lambda g, v: SeriesRow(g[0], g[1], int(v[0]), 0.0),
)
_ERRORS = Part(
    "errors",
    2,
    (first_of, first_of, first_of, first_of, plus),
    lambda where: (
        sa.select(
            _e.task_name,
            _e.fingerprint,
            sa.func.max(_e.error_type),
            sa.func.max(_e.error_class),
            sa.func.max(_e.message),
            sa.func.max(_e.frame),
            sa.func.sum(_e.count),
        )
        .where(*where)
        .group_by(_e.task_name, _e.fingerprint)
    ),
    lambda g, v: ErrorRow(g[0], g[1], v[0], v[1], v[2], v[3], int(v[4])),
    task=_e.task_name,
)


def read(conn: Connection, q: RollupQuery, cache: RollupCache | None = None) -> RollupData:
    """``Store.read_rollups``: the parts ``q.parts`` asks for, each summed in SQL — the range's
    histograms per task, its series, its keys and its errors — and with ``cache``, sums of
    days and hours read before reused while their run counts are unchanged (``rollup_cache``).
    With ``q.key`` the histograms and errors are left empty (they carry no key) and the
    series come from the per-key rows (counts only)."""
    known = Known(conn, q.tasks, q.start, q.end)  # each read once per read, when first needed

    def sums(
        part: Part, spans: list[Span], where: Callable[[Sequence[Span]], list[Any]]
    ) -> list[Any]:
        # Per-key reads are cheap seeks of one key: not cached (their scope would need the key).
        if q.tasks is not None and len(q.tasks) == 1:
            part = replace(part, task=None)  # one task: its runs are the hour's, no split
        return summed(conn, None if q.key else cache, part, spans, where, known, q.tasks)

    keyed_by = [] if q.key is None else [_k.key == q.key]
    keys: list[KeyRow] = []
    if KEYS in q.parts or q.key is not None:
        keys = sums(_KEYS, _hour_spans(q), _within(key_rollups, q, *keyed_by))
    if q.key is not None:
        keyed: list[SeriesRow] = []
        if SERIES in q.parts:
            # Hourly trends need the hour rows; daily ones are the same sums from day rows.
            spans = (
                _hour_spans(q)
                if q.series_period > HOUR
                else [(HOUR, bucket_start(q.start, HOUR), q.end)]
            )
            keyed = sums(_KEYED_SERIES, spans, _within(key_rollups, q, *keyed_by))
        return RollupData([], keyed, keys, [])
    histograms: list[HistogramRow] = []
    if TASKS in q.parts:
        # A range read by the hour sums the same rows from day rows for its whole days.
        spans = (
            _hour_spans(q)
            if q.period_seconds == HOUR
            else [(q.period_seconds, q.first_bucket, q.end)]
        )
        histograms = sums(_HISTOGRAMS, spans, _within(rollups, q))
    series: list[SeriesRow] = []
    if SERIES in q.parts:
        period = q.series_period
        series = sums(
            _SERIES, [(period, bucket_start(q.start, period), q.end)], _within(series_rollups, q)
        )
    errors: list[ErrorRow] = []
    if ERRORS_PART in q.parts:
        errors = sums(_ERRORS, _hour_spans(q), _within(error_rollups, q))
    return RollupData(histograms, series, keys, errors)


def failing_since(conn: Connection, task_names: Sequence[str]) -> dict[str, datetime]:
    """``Store.failing_since``: per task, the hour of its first failed or timed-out run after
    its last succeeded one (ever, from hour rows); tasks whose last run succeeded are absent.
    Each is a seek in ``ix_tickwork_series_rollups_task``: few tasks, two queries each."""
    s = series_rollups.c
    since: dict[str, datetime] = {}
    for name in task_names:
        hourly = [s.task_name == name, s.period_seconds == HOUR]
        ok = conn.execute(
            sa.select(sa.func.max(s.bucket_start)).where(
                *hourly, s.status == RunStatus.SUCCEEDED.value
            )
        ).scalar()
        where = [*hourly, s.status.in_(sorted(_ERROR_STATUSES))]
        if ok is not None:
            where.append(s.bucket_start >= ok)
        first = conn.execute(sa.select(sa.func.min(s.bucket_start)).where(*where)).scalar()
        if first is not None:
            since[name] = first
    return since


def missed_fire_counts(
    conn: Connection, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """``Store.missed_fire_counts``: per task, fires missed in ``[start, end)`` by reason."""
    m = missed_fires.c
    counts: dict[str, dict[str, int]] = {}
    for task, reason, n in conn.execute(
        sa.select(m.task_name, m.reason, sa.func.count())
        .where(m.fire_at >= start, m.fire_at < end)
        .group_by(m.task_name, m.reason)
    ):
        counts.setdefault(task, {})[reason] = int(n)
    return counts
