"""Single-task changes, paged job and run queries, run statistics and queue figures in SQL."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tickwork.domain.jobs import Job, JobState, Run, RunStatus
from tickwork.domain.tasks import Task, TaskDefinition, TaskSource
from tickwork.errors import ConflictError, InvalidStateError
from tickwork.store import rows
from tickwork.store.base import RUN_SORTS, JobQuery, QueueStats, RunQuery, RunStats
from tickwork.store.sql import PENDING_SQL, PROBLEM_SQL, jobs, runs, tasks
from tickwork.store.sqlbase import SqlBase

DELETED_REASON = "job definition deleted"
P95 = 0.95
# Runs that were an attempt of the task's own work; skipped, deferred and interrupted runs
# count in ``RunStats.runs`` only, so their durations do not distort the figures.
_TIMED_SQL = (RunStatus.SUCCEEDED.value, *PROBLEM_SQL)
_SORT_COLUMNS = {
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
    "duration": runs.c.duration_seconds,
    "id": runs.c.id,  # recording order (the live-event poller follows it)
}
assert set(_SORT_COLUMNS) == set(RUN_SORTS)


class SqlQueries(SqlBase):
    """The Store protocol's query and single-task methods used by the API."""

    # --- single task changes -----------------------------------------------------------------
    async def create_task(
        self,
        definition: TaskDefinition,
        source: TaskSource,
        next_fire_at: datetime | None,
        now: datetime,
    ) -> Task:
        return await self._call(self._create_task, definition, source, next_fire_at, now)

    def _create_task(
        self,
        definition: TaskDefinition,
        source: TaskSource,
        next_fire_at: datetime | None,
        now: datetime,
    ) -> Task:
        values = {**rows.task_values(definition), "source": source.value}
        try:
            with self._write() as conn:
                exists = conn.execute(
                    sa.select(tasks.c.name).where(tasks.c.name == definition.name)
                ).first()
                if exists is not None:
                    raise ConflictError(f"a job named {definition.name!r} already exists")
                conn.execute(
                    tasks.insert().values(
                        **values, next_fire_at=next_fire_at, created_at=now, updated_at=now
                    )
                )
                row = _task_row(conn, definition.name)
        except sa.exc.IntegrityError:
            # Another transaction inserted the name between our check and our insert.
            raise ConflictError(f"a job named {definition.name!r} already exists") from None
        assert row is not None
        return rows.task_from_row(row)

    async def update_task(
        self, definition: TaskDefinition, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        return await self._call(self._update_task, definition, next_fire_at, now)

    def _update_task(
        self, definition: TaskDefinition, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        values = rows.task_values(definition)
        values.pop("source")  # where a task is defined does not change with its definition
        with self._write() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.name == definition.name)
                .values(**values, next_fire_at=next_fire_at, updated_at=now)
            )
            row = _task_row(conn, definition.name)
        return rows.task_from_row(row) if row else None

    async def remove_task(self, name: str, now: datetime) -> Task | None:
        return await self._call(self._remove_task, name, now)

    def _remove_task(self, name: str, now: datetime) -> Task | None:
        with self._write() as conn:
            row = _task_row(conn, name, lock=self._skip_locked)
            if row is None:
                return None
            conn.execute(
                tasks.update()
                .where(tasks.c.name == name)
                .values(
                    # Removing twice keeps the first removal time.
                    removed_at=row["removed_at"] or now,
                    next_fire_at=None,
                    updated_at=now,
                )
            )
            # Running jobs finish: stopping work midway is what cancel is for.
            conn.execute(
                jobs.update()
                .where(jobs.c.task_name == name, jobs.c.state.in_(PENDING_SQL))
                .values(state=JobState.CANCELLED.value, finished_at=now, last_error=DELETED_REASON)
            )
            row = _task_row(conn, name)
        assert row is not None
        return rows.task_from_row(row)

    # --- jobs --------------------------------------------------------------------------------
    async def query_jobs(self, query: JobQuery) -> list[Job]:
        return await self._call_read(self._query_jobs, query)

    def _query_jobs(self, q: JobQuery) -> list[Job]:
        stmt = sa.select(jobs)
        if q.task_name is not None:
            stmt = stmt.where(jobs.c.task_name == q.task_name)
        if q.states:
            stmt = stmt.where(jobs.c.state.in_([s.value for s in q.states]))
        if q.key is not None:
            stmt = stmt.where(jobs.c.key == q.key)
        if q.before_id is not None:
            stmt = stmt.where(jobs.c.id < q.before_id)
        if q.after_id is not None:
            stmt = stmt.where(jobs.c.id > q.after_id)
        order = jobs.c.id.asc() if q.oldest_first else jobs.c.id.desc()
        stmt = stmt.order_by(order).limit(q.limit)
        with self._read() as conn:
            return [rows.job_from_row(r) for r in conn.execute(stmt).mappings()]

    async def reschedule_job(
        self, job_id: int, scheduled_at: datetime, now: datetime
    ) -> Job | None:
        return await self._call(self._reschedule_job, job_id, scheduled_at, now)

    def _reschedule_job(self, job_id: int, scheduled_at: datetime, now: datetime) -> Job | None:
        with self._write() as conn:
            query = sa.select(jobs.c.state).where(jobs.c.id == job_id)
            if self._skip_locked:
                query = query.with_for_update()
            state = conn.execute(query).scalar()
            if state is None:
                return None
            if state not in PENDING_SQL:
                raise InvalidStateError(
                    f"job {job_id} is {state}; only scheduled, available or retrying jobs"
                    " can be rescheduled"
                )
            due = scheduled_at <= now
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    scheduled_at=scheduled_at,
                    state=(JobState.AVAILABLE if due else JobState.SCHEDULED).value,
                )
            )
            # Workers may sleep until the old due time: tell other processes it moved.
            self._notify(conn)
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
        return rows.job_from_row(row)

    # --- runs --------------------------------------------------------------------------------
    async def query_runs(self, query: RunQuery) -> list[Run]:
        return await self._call_read(self._query_runs, query)

    def _query_runs(self, q: RunQuery) -> list[Run]:
        column = _SORT_COLUMNS[q.sort]
        stmt = sa.select(runs)
        if q.task_name is not None:
            stmt = stmt.where(runs.c.task_name == q.task_name)
        if q.job_id is not None:
            stmt = stmt.where(runs.c.job_id == q.job_id)
        if q.statuses:
            stmt = stmt.where(runs.c.status.in_([s.value for s in q.statuses]))
        if q.triggered_by:
            stmt = stmt.where(runs.c.triggered_by.in_([t.value for t in q.triggered_by]))
        if q.started_from is not None:
            stmt = stmt.where(runs.c.started_at >= q.started_from)
        if q.started_to is not None:
            stmt = stmt.where(runs.c.started_at < q.started_to)
        with self._read() as conn:
            # Cursors are keyset positions in (sort key, id) order, so pages never overlap or
            # skip, whatever ties the sort key has. ``before_id``: what comes before that run
            # in ascending order (the next page when descending); ``after_id``: what follows.
            for cursor, before in ((q.before_id, True), (q.after_id, False)):
                if cursor is None:
                    continue
                key = conn.execute(sa.select(column).where(runs.c.id == cursor)).first()
                if key is None:
                    return []  # an unknown cursor has no position
                stmt = stmt.where(_keyset(column, key[0], cursor, before=before))
            if q.ascending:
                stmt = stmt.order_by(column.asc(), runs.c.id.asc())
            else:
                stmt = stmt.order_by(column.desc(), runs.c.id.desc())
            stmt = stmt.offset(q.offset).limit(q.limit)
            return [rows.run_from_row(r) for r in conn.execute(stmt).mappings()]

    async def get_run(self, run_id: int) -> Run | None:
        return await self._call_read(self._get_run, run_id)

    def _get_run(self, run_id: int) -> Run | None:
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        return rows.run_from_row(row) if row else None

    async def last_run_statuses(self) -> dict[str, RunStatus]:
        return await self._call_read(self._last_run_statuses)

    def _last_run_statuses(self) -> dict[str, RunStatus]:
        latest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.task_name)
        query = sa.select(runs.c.task_name, runs.c.status).where(runs.c.id.in_(latest))
        with self._read() as conn:
            return {name: RunStatus(status) for name, status in conn.execute(query)}

    # --- statistics --------------------------------------------------------------------------
    async def run_stats(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        return await self._call_read(self._run_stats, start, end, task_name)

    def _run_stats(self, start: datetime, end: datetime, task_name: str | None) -> list[RunStats]:
        if self.dialect != "postgresql":
            return self._run_stats_in_python(start, end, task_name)
        where = [runs.c.started_at >= start, runs.c.started_at < end]
        if task_name is not None:
            where.append(runs.c.task_name == task_name)
        timed = runs.c.status.in_(_TIMED_SQL)
        duration = sa.case((timed, runs.c.duration_seconds))
        stmt = (
            sa.select(
                runs.c.task_name,
                sa.func.count(),
                sa.func.count(sa.case((runs.c.status == RunStatus.SUCCEEDED.value, 1))),
                sa.func.count(sa.case((runs.c.status.in_(PROBLEM_SQL), 1))),
                sa.func.avg(duration),
                sa.func.percentile_cont(P95).within_group(runs.c.duration_seconds).filter(timed),
                sa.func.max(duration),
            )
            .where(*where)
            .group_by(runs.c.task_name)
        )
        with self._read() as conn:
            stats = [
                RunStats(name, n, ok, bad, _float(avg), _float(p95), _float(top))
                for name, n, ok, bad, avg, p95, top in conn.execute(stmt)
            ]
        # Sorted here: the database's collation may order names differently from Python.
        return sorted(stats, key=lambda s: s.task_name)

    def _run_stats_in_python(
        self, start: datetime, end: datetime, task_name: str | None
    ) -> list[RunStats]:
        """SQLite has no percentile aggregate, and ranking in a window query costs more than
        reading three narrow columns once, on the raw driver, and aggregating here."""
        sql = (
            "SELECT task_name, status, duration_seconds FROM tickwork_runs"
            " WHERE started_at >= ? AND started_at < ?"
        )
        params: tuple[Any, ...] = (start.timestamp(), end.timestamp())
        if task_name is not None:
            sql += " AND task_name = ?"
            params += (task_name,)
        counts: dict[str, list[int]] = {}
        durations: dict[str, list[float]] = {}
        with self._read() as conn:
            for name, status, seconds in conn.connection.driver_connection.execute(sql, params):
                n = counts.get(name)
                if n is None:
                    n = counts[name] = [0, 0, 0]
                    durations[name] = []
                n[0] += 1
                if status in _TIMED_SQL:
                    durations[name].append(seconds)
                    if status == RunStatus.SUCCEEDED.value:
                        n[1] += 1
                    else:
                        n[2] += 1
        stats = []
        for name in sorted(counts):
            total, ok, bad = counts[name]
            values = sorted(durations[name])
            stats.append(
                RunStats(
                    task_name=name,
                    runs=total,
                    succeeded=ok,
                    failed=bad,
                    avg_duration_seconds=sum(values) / len(values) if values else None,
                    p95_duration_seconds=percentile_cont(values, P95) if values else None,
                    max_duration_seconds=values[-1] if values else None,
                )
            )
        return stats

    async def runs_by_hour(self, start: datetime, end: datetime) -> dict[int, int]:
        return await self._call_read(self._runs_by_hour, start, end)

    def _runs_by_hour(self, start: datetime, end: datetime) -> dict[int, int]:
        hour: Any
        if self.dialect == "postgresql":
            hour = sa.extract("hour", sa.func.timezone("UTC", runs.c.started_at))
        else:
            # Epoch seconds (> 0, so the cast is a floor): seconds into the UTC day, in hours.
            seconds = sa.cast(runs.c.started_at, sa.Integer)
            hour = (seconds % 86400) // 3600
        hour = sa.cast(hour, sa.Integer).label("hour")
        stmt = (
            sa.select(hour, sa.func.count())
            .where(runs.c.started_at >= start, runs.c.started_at < end)
            .group_by(hour)
        )
        with self._read() as conn:
            return {int(h): int(n) for h, n in conn.execute(stmt)}

    async def queue_stats(self, now: datetime) -> QueueStats:
        return await self._call_read(self._queue_stats, now)

    def _queue_stats(self, now: datetime) -> QueueStats:
        by_state = sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)
        due = sa.select(sa.func.count(), sa.func.min(jobs.c.scheduled_at)).where(
            jobs.c.state.in_(PENDING_SQL), jobs.c.scheduled_at <= now
        )
        expired = sa.select(sa.func.count()).where(
            jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at <= now
        )
        with self._read() as conn:
            counts = {JobState(state): n for state, n in conn.execute(by_state)}
            due_now, oldest = conn.execute(due).one()
            expired_leases = conn.execute(expired).scalar() or 0
        return QueueStats(
            by_state={s: counts.get(s, 0) for s in JobState},
            due_now=int(due_now),
            oldest_due_at=oldest,
            expired_leases=int(expired_leases),
        )

    async def ping(self) -> None:
        await self._call_read(self._ping)

    def _ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.select(1)).scalar()


def _task_row(conn: Any, name: str, *, lock: bool = False) -> Any:
    query = sa.select(tasks).where(tasks.c.name == name)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def _keyset(column: Any, key: Any, cursor: int, *, before: bool) -> Any:
    """Rows strictly before (or after) the position (``key``, ``cursor``) in (column, id)
    order. The plain bound on the column comes first so that an index on it is a range."""
    if before:
        return sa.and_(column <= key, sa.or_(column < key, runs.c.id < cursor))
    return sa.and_(column >= key, sa.or_(column > key, runs.c.id > cursor))


def percentile_cont(ordered: Sequence[float], p: float) -> float:
    """The ``p`` percentile of sorted, non-empty ``ordered`` by linear interpolation between
    the closest ranks, as PostgreSQL's ``percentile_cont`` computes it."""
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    value = ordered[low]
    fraction = position - low
    if fraction > 0:
        value += (ordered[low + 1] - value) * fraction
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
