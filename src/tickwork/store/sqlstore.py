"""The SQL store: one implementation of the Store protocol for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.jobs import (
    Completion,
    Job,
    JobState,
    NewJob,
    check_transition,
)
from tickwork.store import claims, rows, sqlite_fast
from tickwork.store.sql import PENDING_SQL, jobs
from tickwork.store.sqlaccounts import SqlAccounts
from tickwork.store.sqlbase import new_job_values
from tickwork.store.sqlops import SqlOps
from tickwork.store.sqlqueries import SqlQueries

_ORDER = (jobs.c.priority.desc(), jobs.c.scheduled_at, jobs.c.id)


class SqlStore(SqlQueries, SqlAccounts, SqlOps):
    """The one implementation of the Store protocol, for SQLite and PostgreSQL."""

    # --- jobs --------------------------------------------------------------------------------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if not new_jobs:
            return []
        if _plain(new_jobs) and self.dialect == "postgresql":
            from tickwork.store import pg_fast  # loaded with PostgreSQL stores only (SqlBase)

            ids = await self._on_loop(lambda conn: pg_fast.enqueue_async(conn, new_jobs, now))
            if ids is not None:
                return ids
        return await self._call(self._enqueue, new_jobs, now)

    def _enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if self.dialect == "sqlite":
            with self._write() as conn:
                return sqlite_fast.enqueue(conn.connection.driver_connection, new_jobs, now)
        if _plain(new_jobs):
            from tickwork.store import pg_fast

            with pg_fast.connection(self.engine) as raw:
                return pg_fast.enqueue(raw, new_jobs, now)
        with self._write() as conn:
            return self._enqueue_checked(conn, new_jobs, now)

    @staticmethod
    def _insert_jobs(conn: Any, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if not new_jobs:
            return []
        result = conn.execute(
            jobs.insert().returning(jobs.c.id, sort_by_parameter_order=True),
            [new_job_values(j, now) for j in new_jobs],
        )
        return [r[0] for r in result]

    def _enqueue_checked(self, conn: Any, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        """Enqueue with unique keys and deadlines (PostgreSQL), IDs in order: runs of plain jobs
        in one statement each, keyed jobs one by one, then the watchdogs of the jobs created."""
        ids: list[int] = []
        created: list[tuple[NewJob, int]] = []
        plain: list[NewJob] = []

        def flush() -> None:
            plain_ids = self._insert_jobs(conn, plain, now)
            ids.extend(plain_ids)
            created.extend(zip(plain, plain_ids, strict=True))
            plain.clear()

        for j in new_jobs:
            if j.unique_key is None or j.skip_reason is not None:
                plain.append(j)
                continue
            flush()
            job_id, is_new = self._insert_unique(conn, j, now)
            ids.append(job_id)
            if is_new:
                created.append((j, job_id))
        flush()
        watchdogs = [w for j, job_id in created if (w := j.watchdog(job_id)) is not None]
        if watchdogs:
            conn.execute(jobs.insert(), [new_job_values(w, now) for w in watchdogs])
        if created:
            self._notify(conn)
        return ids

    def _insert_unique(self, conn: Any, job: NewJob, now: datetime) -> tuple[int, bool]:
        """The job holding ``job.unique_key`` (and False), or ``job`` inserted (and True).

        The partial unique index decides races: a concurrent insert of the same key waits for
        the other transaction, then does nothing, and the job it committed is found.
        """
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        key = job.unique_key
        active = sa.select(jobs.c.id).where(
            jobs.c.unique_key == key, jobs.c.state.in_((*PENDING_SQL, "running"))
        )
        insert = (
            pg_insert(jobs)
            .values(**new_job_values(job, now))
            .on_conflict_do_nothing(
                index_elements=["unique_key"],
                # The predicate of uq_tickwork_jobs_unique_active, so PostgreSQL infers it.
                index_where=sa.text(
                    "unique_key IS NOT NULL"
                    " AND state IN ('scheduled', 'available', 'retrying', 'running')"
                ),
            )
            .returning(jobs.c.id)
        )
        while True:
            existing = conn.execute(active).scalar()
            if existing is None and job.unique_for_seconds is not None:
                since = now - timedelta(seconds=job.unique_for_seconds)
                existing = conn.execute(
                    sa.select(jobs.c.id)
                    .where(jobs.c.unique_key == key, jobs.c.finished_at >= since)
                    .order_by(jobs.c.finished_at.desc(), jobs.c.id.desc())
                    .limit(1)
                ).scalar()
            if existing is not None:
                return int(existing), False
            inserted = conn.execute(insert).scalar()
            if inserted is not None:
                return int(inserted), True
            # Lost a race to a job that committed meanwhile: look again (it may even have
            # finished by now, then the window decides).

    async def get_job(self, job_id: int) -> Job | None:
        return await self._call_read(self._get_job, job_id)

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
        return await self._call_read(self._list_jobs, task_name, states, limit)

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
                # Its worker stops it (it polls for requests) and records the run as cancelled.
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.cancel_requested_at.is_(None))
                    .values(cancel_requested_at=now)
                )
                row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
                return rows.job_from_row(row)
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
        rules: ClaimRules | None = None,
    ) -> list[Job]:
        if (rules is None or rules.empty) and self.dialect == "postgresql":
            from tickwork.store import pg_fast

            lease_until = now + timedelta(seconds=lease_seconds)
            claimed = await self._on_loop(
                lambda conn: pg_fast.claim_first_async(
                    conn, worker_id, limit, now, horizon or now, lease_until
                )
            )
            if claimed is not None:
                return _in_claim_order(claimed)
        return await self._call(
            self._claim,
            worker_id,
            limit,
            now,
            lease_seconds,
            horizon or now,
            rules or ClaimRules(),
        )

    def _claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
        horizon: datetime,
        rules: ClaimRules,
    ) -> list[Job]:
        lease_until = now + timedelta(seconds=lease_seconds)
        if self.dialect == "sqlite":
            with self._write() as conn:
                claimed, _ = sqlite_fast.claim(
                    conn.connection.driver_connection,
                    worker_id,
                    limit,
                    now,
                    horizon,
                    lease_until,
                    rules,
                )
        else:
            from tickwork.store import pg_fast

            with pg_fast.connection(self.engine) as raw:
                claimed = pg_fast.claim(raw, worker_id, limit, now, horizon, lease_until, rules)
        return _in_claim_order(claimed)

    async def explain_hold(
        self, job_id: int, now: datetime, rules: ClaimRules | None = None
    ) -> Hold | None:
        return await self._call_read(self._explain_hold, job_id, now, rules or ClaimRules())

    def _explain_hold(self, job_id: int, now: datetime, rules: ClaimRules) -> Hold | None:
        with self._read() as conn:
            return claims.explain(conn, job_id, now, rules)

    async def cancel_requests(self, worker_id: str) -> list[int]:
        return await self._call_read(self._cancel_requests, worker_id)

    def _cancel_requests(self, worker_id: str) -> list[int]:
        query = sa.select(jobs.c.id).where(
            jobs.c.worker_id == worker_id,
            jobs.c.state == JobState.RUNNING.value,
            jobs.c.cancel_requested_at.isnot(None),
        )
        with self._read() as conn:
            return [r[0] for r in conn.execute(query)]

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

    async def complete(self, completions: Sequence[Completion]) -> list[int]:
        return await self._call(self._complete, completions)

    def _complete(self, completions: Sequence[Completion]) -> list[int]:
        if not completions:
            return []
        if self.dialect == "sqlite":
            with self._write() as conn:
                return sqlite_fast.complete(conn.connection.driver_connection, completions)
        from tickwork.store import pg_fast

        with pg_fast.connection(self.engine) as raw:
            return pg_fast.complete(raw, completions)


def _plain(new_jobs: Sequence[NewJob]) -> bool:
    """Jobs without unique keys or deadlines: one statement inserts them (pg_fast.enqueue)."""
    return not any(j.unique_key is not None or j.deadline_job is not None for j in new_jobs)


def _in_claim_order(claimed: list[Job]) -> list[Job]:
    claimed.sort(key=lambda j: (-j.priority, j.scheduled_at, j.id))
    return claimed
