"""Backfills in SQL, both dialects (``store.backfilling``): the backfill's row and its jobs
created in one transaction (each (task, fire_at) once, ``ON CONFLICT DO NOTHING``), the
release of a ``queue`` backfill's next job, cancel, and progress counted through
``ix_tickwork_jobs_backfill``. ``SqlBackfills`` is ``SqlStore``'s part."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.backfills import (
    HELD_UNTIL,
    Backfill,
    BackfillCounts,
    BackfillOverlap,
    NewBackfill,
)
from tickwork.domain.jobs import JobState, NewJob
from tickwork.store.backend import Backend
from tickwork.store.database import Database
from tickwork.store.rows import new_job_values
from tickwork.store.schema import PENDING_SQL, backfills, jobs

# Values per IN list: SQLite allows a limited number of bound parameters.
IN_CHUNK = 500

_ACTIVE_OWN = sa.or_(
    jobs.c.state.in_(("available", "running", "retrying")),
    sa.and_(jobs.c.state == "scheduled", jobs.c.scheduled_at < HELD_UNTIL),
)
_COUNTED = {
    JobState.SCHEDULED.value: "pending",
    JobState.AVAILABLE.value: "pending",
    JobState.RETRYING.value: "pending",
    JobState.RUNNING.value: "running",
    JobState.SUCCEEDED.value: "succeeded",
    JobState.FAILED.value: "failed",
    JobState.TIMEOUT.value: "failed",
    JobState.CANCELLED.value: "cancelled",
    JobState.SKIPPED.value: "cancelled",
}


# --- reads -------------------------------------------------------------------------------------
def _counts(conn: Connection, ids: Sequence[int]) -> dict[int, BackfillCounts]:
    found: dict[int, dict[str, int]] = {}
    for i in range(0, len(ids), IN_CHUNK):
        query = (
            sa.select(jobs.c.backfill_id, jobs.c.state, sa.func.count())
            .where(jobs.c.backfill_id.in_(list(ids[i : i + IN_CHUNK])))
            .group_by(jobs.c.backfill_id, jobs.c.state)
        )
        for backfill_id, state, n in conn.execute(query):
            by = found.setdefault(backfill_id, {})
            name = _COUNTED.get(state, "pending")
            by[name] = by.get(name, 0) + n
    return {k: BackfillCounts(**v) for k, v in found.items()}


def _backfill(row: Any, counts: BackfillCounts) -> Backfill:
    return Backfill(
        id=row.id,
        task_name=row.task_name,
        range_start=row.range_start,
        range_end=row.range_end,
        overlap=BackfillOverlap(row.overlap),
        max_fires=row.max_fires,
        fires=row.fires,
        created=row.jobs_created,
        present=row.jobs_present,
        requested_by=row.requested_by,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        counts=counts,
    )


def listed(conn: Connection, task_name: str | None, limit: int) -> list[Backfill]:
    query = sa.select(backfills).order_by(backfills.c.id.desc()).limit(limit)
    if task_name is not None:
        query = query.where(backfills.c.task_name == task_name)
    rows = conn.execute(query).all()
    counts = _counts(conn, [r.id for r in rows])
    return [_backfill(r, counts.get(r.id, BackfillCounts())) for r in rows]


def get(conn: Connection, backfill_id: int) -> Backfill | None:
    row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)).first()
    if row is None:
        return None
    return _backfill(row, _counts(conn, [row.id]).get(row.id, BackfillCounts()))


def present(conn: Connection, task_name: str, fires: Sequence[datetime]) -> int:
    total = 0
    for i in range(0, len(fires), IN_CHUNK):
        query = sa.select(sa.func.count()).where(
            jobs.c.task_name == task_name, jobs.c.fire_at.in_(list(fires[i : i + IN_CHUNK]))
        )
        total += int(conn.execute(query).scalar() or 0)
    return total


def any_open(conn: Connection) -> bool:
    query = sa.select(backfills.c.id).where(backfills.c.queue_open.is_(True)).limit(1)
    return conn.execute(query).first() is not None


# --- writes ------------------------------------------------------------------------------------
def create(
    conn: Connection,
    backend: Backend,
    new: NewBackfill,
    new_jobs: Sequence[NewJob],
    now: datetime,
) -> tuple[Backfill | None, list[int]]:
    queue = new.overlap is BackfillOverlap.QUEUE
    backfill_id = conn.execute(
        backfills.insert()
        .values(
            task_name=new.task_name,
            range_start=new.range_start,
            range_end=new.range_end,
            overlap=new.overlap.value,
            max_fires=new.max_fires,
            fires=len(new.fires),
            jobs_created=0,
            jobs_present=0,
            requested_by=new.requested_by,
            created_at=new.created_at,
            queue_open=queue,
        )
        .returning(backfills.c.id)
    ).scalar_one()
    held = HELD_UNTIL if queue else now
    rows = [
        new_job_values(dataclasses.replace(j, backfill_id=backfill_id, scheduled_at=held), now)
        for j in new_jobs
    ]
    # One statement compiled once; SQLAlchemy sends the rows in batches ("insertmanyvalues")
    # and returns the IDs of those inserted (a fire that has a job inserts nothing).
    stmt = (
        backend.insert(jobs)
        .on_conflict_do_nothing(index_elements=["task_name", "fire_at"])
        .returning(jobs.c.id)
    )
    created = [r[0] for r in conn.execute(stmt, rows)] if rows else []
    if not created:
        conn.execute(backfills.delete().where(backfills.c.id == backfill_id))
        return None, []
    conn.execute(
        backfills.update()
        .where(backfills.c.id == backfill_id)
        .values(jobs_created=len(created), jobs_present=len(new_jobs) - len(created))
    )
    if queue:
        _release_one(conn, backfill_id, now)
    backend.notify(conn)
    return get(conn, backfill_id), sorted(created)


def _release_one(conn: Connection, backfill_id: int, now: datetime) -> bool:
    """Release the backfill's next held job unless one of its own is active; close it when
    none is held. Whether a job was released."""
    own = jobs.c.backfill_id == backfill_id
    active = conn.execute(sa.select(jobs.c.id).where(own, _ACTIVE_OWN).limit(1)).first()
    if active is not None:
        return False
    held = conn.execute(
        sa.select(jobs.c.id)
        .where(own, jobs.c.state == "scheduled", jobs.c.scheduled_at >= HELD_UNTIL)
        .order_by(jobs.c.fire_at, jobs.c.id)
        .limit(1)
    ).scalar()
    if held is None:
        conn.execute(
            backfills.update().where(backfills.c.id == backfill_id).values(queue_open=False)
        )
        return False
    conn.execute(
        jobs.update()
        .where(jobs.c.id == held)
        .values(state=JobState.AVAILABLE.value, scheduled_at=now)
    )
    return True


def release(conn: Connection, backend: Backend, now: datetime) -> int:
    query = sa.select(backfills.c.id).where(backfills.c.queue_open.is_(True))
    if backend.lock_rows:
        # Schedulers share the open backfills: a locked one is another scheduler's now.
        query = query.with_for_update(skip_locked=True)
    released = sum(_release_one(conn, b, now) for b in conn.execute(query).scalars().all())
    if released:
        backend.notify(conn)
    return released


def cancel(
    conn: Connection,
    backfill_id: int,
    now: datetime,
    by: str | None,
    reason: str,
) -> tuple[Backfill, int] | None:
    row = conn.execute(
        backfills.update()
        .where(backfills.c.id == backfill_id, backfills.c.cancelled_at.is_(None))
        .values(cancelled_at=now, cancelled_by=by, queue_open=False)
        .returning(backfills.c.id)
    ).first()
    cancelled = 0
    if row is not None:
        cancelled = conn.execute(
            jobs.update()
            .where(jobs.c.backfill_id == backfill_id, jobs.c.state.in_(PENDING_SQL))
            .values(state=JobState.CANCELLED.value, finished_at=now, last_error=reason)
        ).rowcount
    found = get(conn, backfill_id)
    return None if found is None else (found, cancelled)


class SqlBackfills:
    """``Backfills`` over a ``Database`` and its dialect's ``Backend``."""

    _db: Database
    _backend: Backend

    async def create_backfill(
        self, backfill: NewBackfill, new_jobs: Sequence[NewJob], now: datetime
    ) -> tuple[Backfill | None, list[int]]:
        return await self._db.write(create, self._backend, backfill, new_jobs, now)

    async def present_fires(self, task_name: str, fires: Sequence[datetime]) -> int:
        return await self._db.read(present, task_name, fires)

    async def get_backfill(self, backfill_id: int) -> Backfill | None:
        return await self._db.read(get, backfill_id)

    async def list_backfills(self, task_name: str | None, limit: int) -> list[Backfill]:
        return await self._db.read(listed, task_name, limit)

    async def cancel_backfill(
        self, backfill_id: int, now: datetime, by: str | None, reason: str
    ) -> tuple[Backfill, int] | None:
        return await self._db.write(cancel, backfill_id, now, by, reason)

    async def release_backfills(self, now: datetime) -> int:
        if not await self._db.read(any_open):
            return 0
        return await self._db.write(release, self._backend, now)
