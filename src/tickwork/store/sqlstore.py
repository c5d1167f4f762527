"""The SQL store: one implementation of the Store protocol for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tickwork.domain.jobs import (
    Completion,
    Job,
    JobState,
    NewJob,
    Run,
    check_transition,
)
from tickwork.domain.tasks import Task, TaskDefinition, TaskSource
from tickwork.errors import InvalidStateError, NotFoundError, StoreError
from tickwork.store import rows, sqlite_fast
from tickwork.store.base import DueSchedule, Fire, FirePlanner, ProcessorInfo, SyncReport
from tickwork.store.sql import PENDING_SQL, UTCDateTime, jobs, processors, runs, tasks
from tickwork.store.watch import NoWatcher, SqliteChangeWatcher

P = ParamSpec("P")
R = TypeVar("R")

_ORDER = (jobs.c.priority.desc(), jobs.c.scheduled_at, jobs.c.id)


class SqlStore:
    """Runs blocking SQLAlchemy Core work on its own threads so the event loop never waits on I/O.

    SQLite gets exactly one thread (SQLite has one writer anyway, and one connection avoids
    lock ping-pong inside the process); PostgreSQL gets one thread per pooled connection.
    """

    def __init__(self, engine: Engine, *, threads: int, skip_locked: bool) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._threads = threads
        self._skip_locked = skip_locked
        self._executor: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="tickwork-store")

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, self.engine.dispose)
            executor.shutdown(wait=True)

    async def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._executor is None:
            await self.open()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            # The driver's own message only: SQLAlchemy's text would echo bound parameters,
            # which may hold secrets (e.g. HTTP headers of a task).
            orig = getattr(exc, "orig", None) or exc
            raise StoreError(f"{type(orig).__name__}: {orig}") from exc

    def watch(self, on_change: Callable[[], None]) -> SqliteChangeWatcher | NoWatcher:
        """Call ``on_change`` (from another thread) soon after any connection commits."""
        database = self.engine.url.database
        if self.dialect == "sqlite" and database and database != ":memory:":
            return SqliteChangeWatcher(database, on_change)
        return NoWatcher()

    def _write(self) -> Any:
        return self.engine.begin()

    def _read(self) -> Any:
        return self.engine.connect().execution_options(tickwork_read=True)

    # --- tasks -----------------------------------------------------------------------------
    async def sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        return await self._call(self._sync_tasks, definitions, sources, next_fires, now)

    def _sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        report = SyncReport()
        with self._write() as conn:
            existing = {r["name"]: r for r in conn.execute(sa.select(tasks)).mappings().all()}
            wanted = {d.name for d in definitions}
            for defn in definitions:
                values = rows.task_values(defn)
                old = existing.get(defn.name)
                if old is None:
                    conn.execute(
                        tasks.insert().values(
                            **values,
                            next_fire_at=next_fires.get(defn.name),
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    report.created.append(defn.name)
                    continue
                # `enabled` is the operator's switch once a task exists (like a paused DAG in
                # Airflow): a restart must not undo `tickwork jobs disable`.
                values.pop("enabled")
                same = all(old[k] == v for k, v in values.items())
                if same and old["removed_at"] is None:
                    report.unchanged.append(defn.name)
                    continue
                changes: dict[str, Any] = {**values, "updated_at": now, "removed_at": None}
                schedule_changed = (
                    old["schedule"] != defn.schedule
                    or old["timezone"] != defn.timezone
                    or old["removed_at"] is not None
                )
                if schedule_changed:
                    changes["next_fire_at"] = next_fires.get(defn.name)
                conn.execute(tasks.update().where(tasks.c.name == defn.name).values(**changes))
                report.updated.append(defn.name)
            source_values = {s.value for s in sources}
            for name, old in existing.items():
                if name in wanted or old["source"] not in source_values:
                    continue
                if old["removed_at"] is None:
                    conn.execute(
                        tasks.update()
                        .where(tasks.c.name == name)
                        .values(removed_at=now, next_fire_at=None, updated_at=now)
                    )
                    report.removed.append(name)
        return report

    async def get_task(self, name: str) -> Task | None:
        return await self._call(self._get_task, name)

    def _get_task(self, name: str) -> Task | None:
        with self._read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.name == name)).mappings().first()
        return rows.task_from_row(row) if row else None

    async def get_tasks(self, names: Sequence[str]) -> list[Task]:
        return await self._call(self._get_tasks, names)

    def _get_tasks(self, names: Sequence[str]) -> list[Task]:
        found: list[Task] = []
        unique = sorted(set(names))
        with self._read() as conn:
            # Chunked: SQLite allows a limited number of bound parameters per statement.
            for i in range(0, len(unique), 500):
                query = sa.select(tasks).where(tasks.c.name.in_(unique[i : i + 500]))
                found += [rows.task_from_row(r) for r in conn.execute(query).mappings()]
        return found

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]:
        return await self._call(self._list_tasks, include_removed)

    def _list_tasks(self, include_removed: bool) -> list[Task]:
        query = sa.select(tasks).order_by(tasks.c.name)
        if not include_removed:
            query = query.where(tasks.c.removed_at.is_(None))
        with self._read() as conn:
            return [rows.task_from_row(r) for r in conn.execute(query).mappings()]

    async def set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        return await self._call(self._set_task_enabled, name, enabled, next_fire_at, now)

    def _set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        with self._write() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.name == name)
                .values(enabled=enabled, next_fire_at=next_fire_at, updated_at=now)
            )
            row = conn.execute(sa.select(tasks).where(tasks.c.name == name)).mappings().first()
        return rows.task_from_row(row) if row else None

    # --- scheduling -----------------------------------------------------------------------
    def _firing(self) -> Any:
        return sa.and_(
            tasks.c.enabled.is_(True),
            tasks.c.removed_at.is_(None),
            tasks.c.next_fire_at.isnot(None),
        )

    async def due_tasks(self, now: datetime, limit: int) -> list[Task]:
        return await self._call(self._due_tasks, now, limit)

    def _due_tasks(self, now: datetime, limit: int) -> list[Task]:
        query = (
            sa.select(tasks)
            .where(self._firing(), tasks.c.next_fire_at <= now)
            .order_by(tasks.c.next_fire_at, tasks.c.name)
            .limit(limit)
        )
        with self._read() as conn:
            return [rows.task_from_row(r) for r in conn.execute(query).mappings()]

    async def next_fire_time(self) -> datetime | None:
        return await self._call(self._next_fire_time)

    def _next_fire_time(self) -> datetime | None:
        query = sa.select(sa.func.min(tasks.c.next_fire_at)).where(self._firing())
        with self._read() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    async def fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, *, horizon: datetime | None = None
    ) -> tuple[int, list[int]]:
        return await self._call(self._fire_due, now, limit, plan, horizon or now)

    def _fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, horizon: datetime
    ) -> tuple[int, list[int]]:
        if self.dialect == "sqlite":
            with self._write() as conn:
                return sqlite_fast.fire_due(
                    conn.connection.driver_connection, now, horizon, limit, plan
                )
        query = (
            sa.select(
                tasks.c.name,
                tasks.c.schedule,
                tasks.c.timezone,
                tasks.c.next_fire_at,
                tasks.c.args,
                tasks.c.kwargs,
                tasks.c.priority,
                tasks.c.max_retries,
            )
            .where(self._firing(), tasks.c.next_fire_at <= horizon)
            .order_by(tasks.c.next_fire_at, tasks.c.name)
            .limit(limit)
        )
        if self._skip_locked:
            # Schedulers share the due schedules: a locked one belongs to another scheduler.
            query = query.with_for_update(skip_locked=True)
        created: list[int] = []
        with self._write() as conn:
            due = [
                DueSchedule(
                    r.name,
                    r.schedule,
                    r.timezone,
                    r.next_fire_at,
                    r.args,
                    r.kwargs,
                    r.priority,
                    r.max_retries + 1,
                )
                for r in conn.execute(query)
            ]
            for fire in map(plan, due):
                conn.execute(
                    tasks.update()
                    .where(tasks.c.name == fire.task_name)
                    .values(next_fire_at=fire.next_fire_at, last_fire_at=fire.previous_next_fire_at)
                )
                if fire.job is not None:
                    job_id = self._insert_job_once(conn, fire.job, now)
                    if job_id is not None:
                        created.append(job_id)
        return len(due), created

    async def record_fires(self, fires: Sequence[Fire], now: datetime) -> list[int]:
        return await self._call(self._record_fires, fires, now)

    def _record_fires(self, fires: Sequence[Fire], now: datetime) -> list[int]:
        created: list[int] = []
        with self._write() as conn:
            for fire in fires:
                advanced = conn.execute(
                    tasks.update()
                    .where(
                        tasks.c.name == fire.task_name,
                        tasks.c.next_fire_at == fire.previous_next_fire_at,
                    )
                    .values(next_fire_at=fire.next_fire_at, last_fire_at=fire.previous_next_fire_at)
                )
                if advanced.rowcount != 1 or fire.job is None:
                    continue
                job_id = self._insert_job_once(conn, fire.job, now)
                if job_id is not None:
                    created.append(job_id)
        return created

    def _insert_job_once(self, conn: Connection, job: NewJob, now: datetime) -> int | None:
        insert: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            insert = pg_insert(jobs)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert(jobs)
        stmt = (
            insert.values(**_new_job_values(job, now))
            .on_conflict_do_nothing(index_elements=["task_name", "fire_at"])
            .returning(jobs.c.id)
        )
        return conn.execute(stmt).scalar()

    # --- jobs --------------------------------------------------------------------------------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        return await self._call(self._enqueue, new_jobs, now)

    def _enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if not new_jobs:
            return []
        if self.dialect == "sqlite":
            with self._write() as conn:
                return sqlite_fast.enqueue(conn.connection.driver_connection, new_jobs, now)
        with self._write() as conn:
            result = conn.execute(
                jobs.insert().returning(jobs.c.id, sort_by_parameter_order=True),
                [_new_job_values(j, now) for j in new_jobs],
            )
            return [r[0] for r in result]

    async def get_job(self, job_id: int) -> Job | None:
        return await self._call(self._get_job, job_id)

    def _get_job(self, job_id: int) -> Job | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return rows.job_from_row(row) if row else None

    async def list_jobs(
        self,
        *,
        task_name: str | None = None,
        states: Sequence[JobState] | None = None,
        limit: int = 100,
    ) -> list[Job]:
        return await self._call(self._list_jobs, task_name, states, limit)

    def _list_jobs(
        self, task_name: str | None, states: Sequence[JobState] | None, limit: int
    ) -> list[Job]:
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if task_name is not None:
            query = query.where(jobs.c.task_name == task_name)
        if states:
            query = query.where(jobs.c.state.in_([s.value for s in states]))
        with self._read() as conn:
            return [rows.job_from_row(r) for r in conn.execute(query).mappings()]

    async def cancel_job(self, job_id: int, now: datetime, reason: str) -> Job | None:
        return await self._call(self._cancel_job, job_id, now, reason)

    def _cancel_job(self, job_id: int, now: datetime, reason: str) -> Job | None:
        with self._write() as conn:
            query = sa.select(jobs).where(jobs.c.id == job_id)
            if self._skip_locked:
                query = query.with_for_update()
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            check_transition(JobState(row["state"]), JobState.CANCELLED)
            if row["state"] == JobState.RUNNING:
                # Cancelling a running job needs its worker's cooperation (a later issue).
                raise InvalidStateError(
                    f"job {job_id} is running; only pending jobs can be cancelled"
                )
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(state=JobState.CANCELLED.value, finished_at=now, last_error=reason)
            )
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
        return rows.job_from_row(row)

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
        *,
        horizon: datetime | None = None,
    ) -> list[Job]:
        return await self._call(self._claim, worker_id, limit, now, lease_seconds, horizon or now)

    def _claim(
        self, worker_id: str, limit: int, now: datetime, lease_seconds: float, horizon: datetime
    ) -> list[Job]:
        due = (
            sa.select(jobs.c.id)
            .where(jobs.c.state.in_(PENDING_SQL), jobs.c.scheduled_at <= horizon)
            .order_by(*_ORDER)
            .limit(limit)
        )
        if self._skip_locked:
            due = due.with_for_update(skip_locked=True)
        if self.dialect == "sqlite":
            with self._write() as conn:
                claimed = sqlite_fast.claim(
                    conn.connection.driver_connection,
                    worker_id,
                    limit,
                    now,
                    horizon,
                    now + timedelta(seconds=lease_seconds),
                )
            claimed.sort(key=lambda j: (-j.priority, j.scheduled_at, j.id))
            return claimed
        stmt = (
            jobs.update()
            .where(jobs.c.id.in_(due.scalar_subquery()))
            .values(
                state=JobState.RUNNING.value,
                attempt=jobs.c.attempt + 1,
                started_at=now,
                worker_id=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
            )
            .returning(*jobs.c)
        )
        with self._write() as conn:
            claimed = [rows.job_from_row(r) for r in conn.execute(stmt).mappings()]
        claimed.sort(key=lambda j: (-j.priority, j.scheduled_at, j.id))
        return claimed

    async def extend_leases(self, worker_id: str, job_ids: Sequence[int], until: datetime) -> None:
        await self._call(self._extend_leases, worker_id, job_ids, until)

    def _extend_leases(self, worker_id: str, job_ids: Sequence[int], until: datetime) -> None:
        if not job_ids:
            return
        with self._write() as conn:
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.id.in_(list(job_ids)),
                    jobs.c.worker_id == worker_id,
                    jobs.c.state == JobState.RUNNING.value,
                )
                .values(lease_expires_at=until)
            )

    async def complete(self, completions: Sequence[Completion]) -> None:
        await self._call(self._complete, completions)

    def _complete(self, completions: Sequence[Completion]) -> None:
        if not completions:
            return
        if self.dialect == "sqlite":
            with self._write() as conn:
                sqlite_fast.complete(conn.connection.driver_connection, completions)
            return
        stmt = (
            jobs.update()
            .where(
                jobs.c.id == sa.bindparam("b_id"),
                jobs.c.state == JobState.RUNNING.value,
                jobs.c.attempt == sa.bindparam("b_attempt"),
                jobs.c.worker_id.is_not_distinct_from(sa.bindparam("b_worker")),
            )
            .values(
                state=sa.bindparam("b_state"),
                finished_at=sa.bindparam("b_finished", type_=UTCDateTime),
                scheduled_at=sa.func.coalesce(
                    sa.bindparam("b_retry_at", type_=UTCDateTime), jobs.c.scheduled_at
                ),
                lease_expires_at=None,
                last_error=sa.bindparam("b_error"),
            )
        )
        params = [
            {
                "b_id": c.job_id,
                "b_attempt": c.attempt,
                "b_worker": c.worker_id,
                "b_state": c.next_state.value,
                "b_finished": None if c.next_state is JobState.RETRYING else c.finished_at,
                "b_retry_at": c.retry_at,
                "b_error": c.outcome.error_message,
            }
            for c in completions
        ]
        with self._write() as conn:
            conn.execute(stmt, params)
            conn.execute(runs.insert(), [rows.run_values(c) for c in completions])

    async def release(
        self, worker_id: str, job_ids: Sequence[int], now: datetime, reason: str
    ) -> int:
        return await self._call(self._release, worker_id, job_ids, now, reason)

    def _release(self, worker_id: str, job_ids: Sequence[int], now: datetime, reason: str) -> int:
        if not job_ids:
            return 0
        with self._write() as conn:
            running = [
                rows.job_from_row(r)
                for r in conn.execute(
                    sa.select(jobs).where(
                        jobs.c.id.in_(list(job_ids)),
                        jobs.c.worker_id == worker_id,
                        jobs.c.state == JobState.RUNNING.value,
                    )
                ).mappings()
            ]
            for job in running:
                conn.execute(runs.insert().values(**rows.interrupted_run_values(job, now, reason)))
                # The attempt was cut short by us, not by the task: it is given back.
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(
                        state=JobState.AVAILABLE.value,
                        attempt=jobs.c.attempt - 1,
                        scheduled_at=now,
                        worker_id=None,
                        lease_expires_at=None,
                        last_error=reason,
                    )
                )
        return len(running)

    async def recover_expired(self, now: datetime, reason: str) -> list[Job]:
        return await self._call(self._recover_expired, now, reason)

    def _recover_expired(self, now: datetime, reason: str) -> list[Job]:
        with self._write() as conn:
            query = sa.select(jobs).where(
                jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at <= now
            )
            if self._skip_locked:
                query = query.with_for_update(skip_locked=True)
            expired = [rows.job_from_row(r) for r in conn.execute(query).mappings()]
            recovered: list[Job] = []
            for job in expired:
                conn.execute(runs.insert().values(**rows.interrupted_run_values(job, now, reason)))
                last = job.attempt >= job.max_attempts
                values: dict[str, Any] = {
                    "state": (JobState.FAILED if last else JobState.AVAILABLE).value,
                    "worker_id": None,
                    "lease_expires_at": None,
                    "last_error": reason,
                }
                if last:
                    values["finished_at"] = now
                else:
                    values["scheduled_at"] = now
                conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))
                row = conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).mappings().one()
                recovered.append(rows.job_from_row(row))
        return recovered

    async def next_due_time(self) -> datetime | None:
        return await self._call(self._next_due_time)

    def _next_due_time(self) -> datetime | None:
        query = (
            sa.select(jobs.c.scheduled_at)
            .where(jobs.c.state.in_(PENDING_SQL))
            .order_by(jobs.c.scheduled_at)
            .limit(1)
        )
        with self._read() as conn:
            due: datetime | None = conn.execute(query).scalar()
        return due

    async def count_jobs_by_state(self) -> dict[JobState, int]:
        return await self._call(self._count_jobs_by_state)

    def _count_jobs_by_state(self) -> dict[JobState, int]:
        query = sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)
        with self._read() as conn:
            counts = {JobState(state): n for state, n in conn.execute(query)}
        return {s: counts.get(s, 0) for s in JobState}

    # --- runs --------------------------------------------------------------------------------
    async def list_runs(
        self, *, task_name: str | None = None, job_id: int | None = None, limit: int = 50
    ) -> list[Run]:
        return await self._call(self._list_runs, task_name, job_id, limit)

    def _list_runs(self, task_name: str | None, job_id: int | None, limit: int) -> list[Run]:
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if task_name is not None:
            query = query.where(runs.c.task_name == task_name)
        if job_id is not None:
            query = query.where(runs.c.job_id == job_id)
        with self._read() as conn:
            return [rows.run_from_row(r) for r in conn.execute(query).mappings()]

    # --- processors ------------------------------------------------------------------------
    async def heartbeat(self, info: ProcessorInfo) -> None:
        await self._call(self._heartbeat, info)

    def _heartbeat(self, info: ProcessorInfo) -> None:
        values = {
            "role": info.role,
            "host": info.host,
            "pid": info.pid,
            "version": info.version,
            "started_at": info.started_at,
            "heartbeat_at": info.heartbeat_at,
            "stopped_at": info.stopped_at,
        }
        with self._write() as conn:
            updated = conn.execute(
                processors.update().where(processors.c.id == info.id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(processors.insert().values(id=info.id, **values))

    async def list_processors(self) -> list[ProcessorInfo]:
        return await self._call(self._list_processors)

    def _list_processors(self) -> list[ProcessorInfo]:
        query = sa.select(processors).order_by(processors.c.started_at.desc())
        with self._read() as conn:
            return [rows.processor_from_row(r) for r in conn.execute(query).mappings()]


def _new_job_values(job: NewJob, now: datetime) -> dict[str, Any]:
    state = JobState.AVAILABLE if job.scheduled_at <= now else JobState.SCHEDULED
    return {
        "task_name": job.task_name,
        "state": state.value,
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "priority": job.priority,
        "key": job.key,
        "unique_key": job.unique_key,
        "scheduled_at": job.scheduled_at,
        "attempt": 0,
        "max_attempts": job.max_attempts,
        "triggered_by": job.triggered_by.value,
        "fire_at": job.fire_at,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "worker_id": None,
        "lease_expires_at": None,
        "last_error": None,
    }


def require(value: R | None, what: str) -> R:
    """``value``, or NotFoundError naming ``what``."""
    if value is None:
        raise NotFoundError(f"{what} not found")
    return value
