"""Jobs in SQL (Core, both dialects), apart from the hot paths: read and paged, cancelled and
rescheduled, leases extended, jobs taken back from workers, counts and queue figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.jobs import Job, JobState, RunStatus, check_transition
from tickwork.domain.policies import interrupted_failure_reason, interrupted_state
from tickwork.domain.queries import JobQuery, QueueStats
from tickwork.errors import InvalidStateError
from tickwork.store import latest, rollups
from tickwork.store.backend import Backend
from tickwork.store.rows import (
    JOBS,
    columns,
    interrupted_run_values,
    job_from_row,
    max_interruptions_of,
)
from tickwork.store.schema import ACTIVE_SQL, PENDING_SQL, jobs, runs, tasks

_JOB = sa.select(*columns(JOBS))


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(_JOB.where(jobs.c.id == job_id)).first()
    return job_from_row(row) if row else None


def query(conn: Connection, q: JobQuery) -> list[Job]:
    """``Store.query_jobs``."""
    stmt = _JOB
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
    if q.fire_from is not None:
        stmt = stmt.where(jobs.c.fire_at >= q.fire_from)
    if q.fire_to is not None:
        stmt = stmt.where(jobs.c.fire_at <= q.fire_to)
    order = jobs.c.id.asc() if q.oldest_first else jobs.c.id.desc()
    return [job_from_row(r) for r in conn.execute(stmt.order_by(order).limit(q.limit))]


def cancel(
    conn: Connection, backend: Backend, job_id: int, now: datetime, reason: str
) -> Job | None:
    """``Store.cancel_job``."""
    query = sa.select(jobs.c.state).where(jobs.c.id == job_id)
    if backend.lock_rows:
        query = query.with_for_update()
    state = conn.execute(query).scalar()
    if state is None:
        return None
    check_transition(JobState(state), JobState.CANCELLED)
    if state == JobState.RUNNING:
        # Its worker stops it (it polls for requests) and records the run as cancelled.
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.cancel_requested_at.is_(None))
            .values(cancel_requested_at=now)
        )
    else:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(state=JobState.CANCELLED.value, finished_at=now, last_error=reason)
        )
    return get(conn, job_id)


def reschedule(
    conn: Connection, backend: Backend, job_id: int, scheduled_at: datetime, now: datetime
) -> Job | None:
    """``Store.reschedule_job``."""
    query = sa.select(jobs.c.state).where(jobs.c.id == job_id)
    if backend.lock_rows:
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
    backend.notify(conn)
    return get(conn, job_id)


def cancel_requests(conn: Connection, worker_id: str) -> list[int]:
    query = sa.select(jobs.c.id).where(
        jobs.c.worker_id == worker_id,
        jobs.c.state == JobState.RUNNING.value,
        jobs.c.cancel_requested_at.isnot(None),
    )
    return [r[0] for r in conn.execute(query)]


def extend_leases(
    conn: Connection, worker_id: str, job_ids: Sequence[int], until: datetime
) -> None:
    conn.execute(
        jobs.update()
        .where(
            jobs.c.id.in_(list(job_ids)),
            jobs.c.worker_id == worker_id,
            jobs.c.state == JobState.RUNNING.value,
        )
        .values(lease_expires_at=until)
    )


def release(
    conn: Connection,
    backend: Backend,
    worker_id: str,
    job_ids: Sequence[int],
    now: datetime,
    reason: str,
    max_interruptions: int,
) -> int:
    """``Store.release``: how many of the worker's jobs were taken back."""
    mine = sa.and_(jobs.c.id.in_(list(job_ids)), jobs.c.worker_id == worker_id)
    return len(take_back(conn, backend, mine, now, reason, False, max_interruptions))


def recover_expired(
    conn: Connection, backend: Backend, now: datetime, reason: str, max_interruptions: int
) -> list[Job]:
    """``Store.recover_expired``: a reaper skips the rows another transaction holds."""
    expired = jobs.c.lease_expires_at <= now
    return take_back(conn, backend, expired, now, reason, True, max_interruptions)


def reset_stuck(
    conn: Connection,
    backend: Backend,
    cutoff: datetime,
    now: datetime,
    reason: str,
    max_interruptions: int,
) -> list[Job]:
    """``Store.reset_stuck``: an operator's reset waits for locked rows (a claim or a
    completion in flight) instead of skipping them: it must not miss a job running that long."""
    stuck = jobs.c.started_at <= cutoff
    return take_back(conn, backend, stuck, now, reason, False, max_interruptions)


def take_back(
    conn: Connection,
    backend: Backend,
    condition: Any,
    now: datetime,
    reason: str,
    skip_locked: bool,
    max_interruptions: int,
) -> list[Job]:
    """Running jobs matching ``condition`` were interrupted: each gets an ``interrupted`` run
    with ``reason`` and goes back to ``available`` with one more attempt, or to ``failed`` past
    its task's ``max_interruptions`` (``max_interruptions`` when the task sets none); see
    ``domain.policies.interrupted_state``. ``skip_locked``: rows another transaction holds are
    left to it (a reaper) instead of waited for (an operator's reset must not miss a job)."""
    query = _JOB.where(jobs.c.state == JobState.RUNNING.value, condition)
    if backend.lock_rows:
        query = query.with_for_update(skip_locked=skip_locked)
    taken = [job_from_row(r) for r in conn.execute(query)]
    if not taken:
        return []
    ids = [j.id for j in taken]
    before: dict[int, int] = dict(
        conn.execute(
            sa.select(runs.c.job_id, sa.func.count())
            .where(runs.c.job_id.in_(ids), runs.c.status == RunStatus.INTERRUPTED.value)
            .group_by(runs.c.job_id)
        ).all()
    )
    own = {
        name: max_interruptions_of(backoff)
        for name, backoff in conn.execute(
            sa.select(tasks.c.name, tasks.c.backoff).where(
                tasks.c.name.in_({j.task_name for j in taken})
            )
        )
    }
    back: list[Job] = []
    entries: list[latest.Entry] = []
    for job in taken:
        run = interrupted_run_values(job, now, reason)
        added = conn.execute(runs.insert().values(**run)).inserted_primary_key
        assert added is not None
        entries.append((job.task_name, added[0], run["started_at"], run["status"]))
        count = before.get(job.id, 0) + 1
        limit = own.get(job.task_name)
        limit = max_interruptions if limit is None else limit
        state = interrupted_state(count, limit)
        values: dict[str, Any] = {"state": state.value, "worker_id": None, "lease_expires_at": None}
        if state is JobState.FAILED:
            values["finished_at"] = now
            values["last_error"] = interrupted_failure_reason(count, limit, reason)
        else:
            # A crash is not the job's failure: it gets one more attempt. Attempt numbers keep
            # counting claims, so a late result of the interrupted attempt can never be taken
            # for the next one's (see ``complete``).
            values["max_attempts"] = jobs.c.max_attempts + 1
            values["scheduled_at"] = now
            values["last_error"] = reason
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))
        found = get(conn, job.id)
        assert found is not None
        back.append(found)
    rollups.upsert(conn, backend, (rollups.finished_of_interrupted(j, now) for j in taken))
    # After the rollups, as PostgreSQL's completion statement locks them: one lock order.
    latest.record(conn, entries)
    if any(j.state is JobState.AVAILABLE for j in back):
        backend.notify(conn)
    return back


def next_due_time(conn: Connection) -> datetime | None:
    query = (
        sa.select(jobs.c.scheduled_at)
        .where(jobs.c.state.in_(PENDING_SQL))
        .order_by(jobs.c.scheduled_at)
        .limit(1)
    )
    due: datetime | None = conn.execute(query).scalar()
    return due


def count_by_state(conn: Connection, finished: bool = True) -> dict[JobState, int]:
    """``Store.count_jobs_by_state``: without ``finished``, the active states only, counted
    through their partial indexes instead of a scan of every job."""
    query = sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)
    states = list(JobState)
    if not finished:
        query = query.where(in_states(ACTIVE_SQL))
        states = [JobState(s) for s in ACTIVE_SQL]
    counts = {JobState(state): n for state, n in conn.execute(query)}
    return {s: counts.get(s, 0) for s in states}


def running_by_worker(conn: Connection) -> dict[str, int]:
    query = (
        sa.select(jobs.c.worker_id, sa.func.count())
        .where(jobs.c.state == JobState.RUNNING.value, jobs.c.worker_id.isnot(None))
        .group_by(jobs.c.worker_id)
    )
    return {worker: n for worker, n in conn.execute(query)}


def in_states(states: Sequence[str]) -> sa.ColumnElement[bool]:
    """``state IN (...)`` with the states written into the statement: SQLite uses a partial
    index (pending, active jobs) only when it can see that the query implies its condition,
    which it cannot through bound parameters; it would scan every job instead."""
    return jobs.c.state.in_(sa.bindparam(None, list(states), expanding=True, literal_execute=True))


def due_jobs(conn: Connection, now: datetime) -> tuple[int, datetime | None]:
    """How many pending jobs are due by ``now``, and the earliest due time among them."""
    due = sa.select(sa.func.count(), sa.func.min(jobs.c.scheduled_at)).where(
        in_states(PENDING_SQL), jobs.c.scheduled_at <= now
    )
    count, oldest = conn.execute(due).one()
    return int(count), oldest


def queue_stats(conn: Connection, now: datetime, finished: bool = True) -> QueueStats:
    """``Store.queue_stats``."""
    expired = sa.select(sa.func.count()).where(
        jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at <= now
    )
    by_state = count_by_state(conn, finished)
    due_now, oldest = due_jobs(conn, now)
    expired_leases = conn.execute(expired).scalar() or 0
    return QueueStats(
        by_state=by_state,
        due_now=int(due_now),
        oldest_due_at=oldest,
        expired_leases=int(expired_leases),
    )
