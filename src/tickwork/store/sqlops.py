"""The SQL store's operational queries: jobs taken back from workers (released on shutdown,
lease expired, reset by an operator), counts, runs and processors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tickwork.domain.jobs import Job, JobState, Run, RunStatus
from tickwork.domain.policies import interrupted_failure_reason, interrupted_state
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS
from tickwork.store import rows
from tickwork.store.base import ProcessorInfo
from tickwork.store.sql import PENDING_SQL, jobs, processors, runs, tasks
from tickwork.store.sqltasks import SqlTasks


class SqlOps(SqlTasks):
    """Recovery of running jobs, counts, run history and processor rows."""

    # --- running jobs taken back -------------------------------------------------------------
    async def release(
        self,
        worker_id: str,
        job_ids: Sequence[int],
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> int:
        return await self._call(self._release, worker_id, job_ids, now, reason, max_interruptions)

    def _release(
        self,
        worker_id: str,
        job_ids: Sequence[int],
        now: datetime,
        reason: str,
        max_interruptions: int,
    ) -> int:
        if not job_ids:
            return 0
        condition = sa.and_(jobs.c.id.in_(list(job_ids)), jobs.c.worker_id == worker_id)
        return len(self._take_back(condition, now, reason, False, max_interruptions))

    async def recover_expired(
        self, now: datetime, reason: str, *, max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    ) -> list[Job]:
        return await self._call(
            self._take_back, jobs.c.lease_expires_at <= now, now, reason, True, max_interruptions
        )

    async def reset_stuck(
        self,
        older_than_seconds: float,
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> list[Job]:
        cutoff = now - timedelta(seconds=older_than_seconds)
        # An operator's reset waits for locked rows (a claim or a completion in flight) instead
        # of skipping them: it must not miss a job that is running that long.
        return await self._call(
            self._take_back, jobs.c.started_at <= cutoff, now, reason, False, max_interruptions
        )

    def _take_back(
        self,
        condition: Any,
        now: datetime,
        reason: str,
        skip_locked: bool,
        max_interruptions: int,
    ) -> list[Job]:
        """Running jobs matching ``condition`` were interrupted: each gets an ``interrupted``
        run with ``reason`` and goes back to ``available`` with one more attempt, or to
        ``failed`` past its task's ``max_interruptions`` (``max_interruptions`` when the task
        sets none); see ``domain.policies.interrupted_state``."""
        with self._write() as conn:
            query = sa.select(jobs).where(jobs.c.state == JobState.RUNNING.value, condition)
            if self._skip_locked:
                query = query.with_for_update(skip_locked=skip_locked)
            taken = [rows.job_from_row(r) for r in conn.execute(query).mappings()]
            if not taken:
                return []
            ids = [j.id for j in taken]
            before = dict(
                conn.execute(
                    sa.select(runs.c.job_id, sa.func.count())
                    .where(runs.c.job_id.in_(ids), runs.c.status == RunStatus.INTERRUPTED.value)
                    .group_by(runs.c.job_id)
                ).all()
            )
            own = {
                name: rows.max_interruptions_of(backoff)
                for name, backoff in conn.execute(
                    sa.select(tasks.c.name, tasks.c.backoff).where(
                        tasks.c.name.in_({j.task_name for j in taken})
                    )
                )
            }
            back: list[Job] = []
            for job in taken:
                conn.execute(runs.insert().values(**rows.interrupted_run_values(job, now, reason)))
                count = before.get(job.id, 0) + 1
                limit = own.get(job.task_name)
                limit = max_interruptions if limit is None else limit
                state = interrupted_state(count, limit)
                values: dict[str, Any] = {
                    "state": state.value,
                    "worker_id": None,
                    "lease_expires_at": None,
                }
                if state is JobState.FAILED:
                    values["finished_at"] = now
                    values["last_error"] = interrupted_failure_reason(count, limit, reason)
                else:
                    # A crash is not the job's failure: it gets one more attempt. Attempt
                    # numbers keep counting claims, so a late result of the interrupted
                    # attempt can never be taken for the next one's (see ``complete``).
                    values["max_attempts"] = jobs.c.max_attempts + 1
                    values["scheduled_at"] = now
                    values["last_error"] = reason
                conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))
                row = conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).mappings().one()
                back.append(rows.job_from_row(row))
            if any(j.state is JobState.AVAILABLE for j in back):
                self._notify(conn)
        return back

    # --- counts ------------------------------------------------------------------------------
    async def next_due_time(self) -> datetime | None:
        return await self._call_read(self._next_due_time)

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
        return await self._call_read(self._count_jobs_by_state)

    def _count_jobs_by_state(self) -> dict[JobState, int]:
        query = sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)
        with self._read() as conn:
            counts = {JobState(state): n for state, n in conn.execute(query)}
        return {s: counts.get(s, 0) for s in JobState}

    async def running_counts_by_worker(self) -> dict[str, int]:
        return await self._call_read(self._running_counts_by_worker)

    def _running_counts_by_worker(self) -> dict[str, int]:
        query = (
            sa.select(jobs.c.worker_id, sa.func.count())
            .where(jobs.c.state == JobState.RUNNING.value, jobs.c.worker_id.isnot(None))
            .group_by(jobs.c.worker_id)
        )
        with self._read() as conn:
            return {worker: n for worker, n in conn.execute(query)}

    # --- runs --------------------------------------------------------------------------------
    async def list_runs(
        self, *, task_name: str | None = None, job_id: int | None = None, limit: int = 50
    ) -> list[Run]:
        return await self._call_read(self._list_runs, task_name, job_id, limit)

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
        return await self._call_read(self._list_processors)

    def _list_processors(self) -> list[ProcessorInfo]:
        query = sa.select(processors).order_by(processors.c.started_at.desc())
        with self._read() as conn:
            return [rows.processor_from_row(r) for r in conn.execute(query).mappings()]
