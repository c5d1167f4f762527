"""The SQL store's operational queries: jobs taken back from workers (released on shutdown,
lease expired, reset by an operator), counts, runs and processors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tickwork.domain.jobs import Job, JobState, Run
from tickwork.store import rows
from tickwork.store.base import ProcessorInfo
from tickwork.store.sql import PENDING_SQL, jobs, processors, runs
from tickwork.store.sqltasks import SqlTasks


class SqlOps(SqlTasks):
    """Recovery of running jobs, counts, run history and processor rows."""

    # --- running jobs taken back -------------------------------------------------------------
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
            if running:
                self._notify(conn)
        return len(running)

    async def recover_expired(self, now: datetime, reason: str) -> list[Job]:
        return await self._call(
            self._take_back, jobs.c.lease_expires_at <= now, now, reason, skip_locked=True
        )

    async def reset_stuck(self, older_than_seconds: float, now: datetime, reason: str) -> list[Job]:
        cutoff = now - timedelta(seconds=older_than_seconds)
        # An operator's reset waits for locked rows (a claim or a completion in flight) instead
        # of skipping them: it must not miss a job that is running that long.
        return await self._call(
            self._take_back, jobs.c.started_at <= cutoff, now, reason, skip_locked=False
        )

    def _take_back(
        self, condition: Any, now: datetime, reason: str, skip_locked: bool
    ) -> list[Job]:
        """Running jobs matching ``condition`` go back to ``available`` (or ``failed`` with no
        attempts left), each with an ``interrupted`` run: the attempt is spent."""
        with self._write() as conn:
            query = sa.select(jobs).where(jobs.c.state == JobState.RUNNING.value, condition)
            if self._skip_locked:
                query = query.with_for_update(skip_locked=skip_locked)
            taken = [rows.job_from_row(r) for r in conn.execute(query).mappings()]
            back: list[Job] = []
            for job in taken:
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
