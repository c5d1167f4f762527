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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.fingerprints import MESSAGE_LIMIT, fingerprint
from tickwork.domain.histogram import bucket_of
from tickwork.domain.jobs import Completion, Job, RunStatus
from tickwork.domain.stats import (
    DURATION,
    ERRORS,
    HOUR,
    LIFETIME,
    MINUTE,
    WAIT,
    ErrorRow,
    HistogramRow,
    KeyRow,
    RollupData,
    RollupQuery,
    SeriesRow,
    bucket_start,
)
from tickwork.store.backend import Backend
from tickwork.store.rows import CORE, Codec
from tickwork.store.schema import error_rollups, key_rollups, missed_fires, rollups

PERIODS = (MINUTE, HOUR, LIFETIME)
ROLLUP_COLUMNS = tuple(c.name for c in rollups.c)
KEY_ROLLUP_COLUMNS = tuple(c.name for c in key_rollups.c)
ERROR_ROLLUP_COLUMNS = tuple(c.name for c in error_rollups.c)
_ERROR_STATUSES = frozenset(s.value for s in ERRORS)


@dataclass(frozen=True)
class Finished:
    """One run as the rollups see it."""

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


def rollup_rows(batch: Iterable[Finished], codec: Codec = CORE) -> RollupRows:
    sums: dict[tuple[Any, ...], list[float]] = {}
    keys: dict[tuple[Any, ...], int] = {}
    errors: dict[tuple[Any, ...], list[Any]] = {}

    def add(pk: tuple[Any, ...], seconds: float) -> None:
        found = sums.get(pk)
        if found is None:
            sums[pk] = [1, seconds]
        else:
            found[0] += 1
            found[1] += seconds

    for f in batch:
        duration_bucket = bucket_of(f.duration_seconds)
        wait_bucket = None if f.wait_seconds is None else bucket_of(f.wait_seconds)
        for period in PERIODS:
            start = bucket_start(f.started_at, period)
            add(
                (f.task_name, period, start, DURATION, f.status, duration_bucket),
                f.duration_seconds,
            )
            if wait_bucket is not None:
                assert f.wait_seconds is not None
                add((f.task_name, period, start, WAIT, "", wait_bucket), f.wait_seconds)
        hour = bucket_start(f.started_at, HOUR)
        if f.key is not None:
            pk = (f.task_name, f.key, hour, f.status)
            keys[pk] = keys.get(pk, 0) + 1
        if f.status in _ERROR_STATUSES:
            found = fingerprint(f.error_type, f.error_message, f.traceback)
            epk = (f.task_name, hour, found.fingerprint)
            error = errors.get(epk)
            if error is None:
                sample = None if f.error_message is None else f.error_message[:MESSAGE_LIMIT]
                errors[epk] = [f.error_type, f.error_class, sample, found.frame, 1]
            else:
                error[-1] += 1
    time = codec.encode_time
    return RollupRows(
        rollups=[
            (task, period, time(start), measure, status, bucket, int(n), total)
            for (task, period, start, measure, status, bucket), (n, total) in sorted(sums.items())
        ],
        keys=[
            (task, key, time(start), status, n)
            for (task, key, start, status), n in sorted(keys.items())
        ],
        errors=[
            (task, time(start), fp, *error) for (task, start, fp), error in sorted(errors.items())
        ],
    )


# What an upsert adds to the row it meets: the statements of both dialects end with this.
ADDED = {
    rollups.name: ("count", "total"),
    key_rollups.name: ("count",),
    error_rollups.name: ("count",),
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
def _where(table: sa.Table, q: RollupQuery, first: datetime) -> list[Any]:
    where: list[Any] = [table.c.bucket_start >= first, table.c.bucket_start < q.end]
    if q.tasks is not None:
        where.append(table.c.task_name.in_(q.tasks))
    return where


def read(conn: Connection, q: RollupQuery) -> RollupData:
    """``Store.read_rollups``: the range's histograms per task, its series, its keys and its
    errors, each summed in SQL. With ``q.key`` the histograms and errors are left empty (they
    carry no key) and the series come from the per-key rows (counts only)."""
    r = rollups.c
    base = [r.period_seconds == q.period_seconds, *_where(rollups, q, q.first_bucket)]
    k = key_rollups.c
    hour_first = bucket_start(q.start, HOUR)
    key_where = _where(key_rollups, q, hour_first)
    if q.key is not None:
        key_where.append(k.key == q.key)
    keys = [
        KeyRow(task, key, status, int(n))
        for task, key, status, n in conn.execute(
            sa.select(k.task_name, k.key, k.status, sa.func.sum(k.count))
            .where(*key_where)
            .group_by(k.task_name, k.key, k.status)
        )
    ]
    if q.key is not None:
        series = [
            SeriesRow(start, status, int(n), 0.0)
            for start, status, n in conn.execute(
                sa.select(k.bucket_start, k.status, sa.func.sum(k.count))
                .where(*key_where)
                .group_by(k.bucket_start, k.status)
            )
        ]
        return RollupData([], series, keys, [])
    histograms = [
        HistogramRow(task, measure, status, int(bucket), int(n), float(total))
        for task, measure, status, bucket, n, total in conn.execute(
            sa.select(
                r.task_name,
                r.measure,
                r.status,
                r.bucket,
                sa.func.sum(r.count),
                sa.func.sum(r.total),
            )
            .where(*base)
            .group_by(r.task_name, r.measure, r.status, r.bucket)
        )
    ]
    series = [
        SeriesRow(start, status, int(n), float(total))
        for start, status, n, total in conn.execute(
            sa.select(r.bucket_start, r.status, sa.func.sum(r.count), sa.func.sum(r.total))
            .where(*base, r.measure == DURATION)
            .group_by(r.bucket_start, r.status)
        )
    ]
    e = error_rollups.c
    errors = [
        ErrorRow(task, fp, etype, eclass, message, frame, int(n))
        for task, fp, etype, eclass, message, frame, n in conn.execute(
            sa.select(
                e.task_name,
                e.fingerprint,
                sa.func.max(e.error_type),
                sa.func.max(e.error_class),
                sa.func.max(e.message),
                sa.func.max(e.frame),
                sa.func.sum(e.count),
            )
            .where(*_where(error_rollups, q, hour_first))
            .group_by(e.task_name, e.fingerprint)
        )
    ]
    return RollupData(histograms, series, keys, errors)


def failing_since(conn: Connection, task_names: Sequence[str]) -> dict[str, datetime]:
    """``Store.failing_since``: per task, the hour of its first failed or timed-out run after
    its last succeeded one (ever, from hour rows); tasks whose last run succeeded are absent."""
    r = rollups.c
    hourly = [r.period_seconds == HOUR, r.measure == DURATION, r.task_name.in_(list(task_names))]
    last_ok = dict(
        conn.execute(
            sa.select(r.task_name, sa.func.max(r.bucket_start))
            .where(*hourly, r.status == RunStatus.SUCCEEDED.value)
            .group_by(r.task_name)
        ).all()
    )
    since: dict[str, datetime] = {}
    # The first failure after the last success needs a bound per task: few tasks, one query each.
    for name in task_names:
        where = [*hourly[:2], r.task_name == name, r.status.in_(sorted(_ERROR_STATUSES))]
        ok = last_ok.get(name)
        if ok is not None:
            where.append(r.bucket_start >= ok)
        first = conn.execute(sa.select(sa.func.min(r.bucket_start)).where(*where)).scalar()
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
