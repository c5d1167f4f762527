"""The PostgreSQL paths that run on a Core connection: enqueue under unique keys and deadlines,
fires (schedules locked FOR UPDATE SKIP LOCKED), run statistics with ``percentile_cont``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.dependencies import UpstreamOn
from tickwork.domain.jobs import NewJob, RunStatus
from tickwork.domain.queries import DueSchedule, Fire, RunStats
from tickwork.store import activity, enqueueing
from tickwork.store.dependencies import requirement_params, requirement_sql
from tickwork.store.postgres.watch import ALERTS_PAYLOAD, NOTIFY_CHANNEL
from tickwork.store.rows import DUE_COLUMNS, due_schedule, new_job_values, pause_values
from tickwork.store.runs import P95, TIMED_SQL
from tickwork.store.schema import (
    ACTIVE_FOR_OVERLAP,
    ACTIVE_SQL,
    PENDING_SQL,
    PROBLEM_SQL,
    UTCDateTime,
    jobs,
    runs,
    tasks,
)
from tickwork.store.tasks import unpaused

NOTIFY = sa.text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")
NOTIFY_ALERTS = sa.text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{ALERTS_PAYLOAD}')")


# --- enqueue under unique keys and deadlines -------------------------------------------------
def enqueue_with_rules(conn: Connection, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
    """``Store.enqueue`` for jobs with unique keys or deadlines, IDs in order: runs of jobs
    without a key in one statement each, keyed jobs one by one, then the watchdogs.

    The partial unique index decides races: a concurrent insert of the same key waits for the
    other transaction, then does nothing, and the job it committed is found.
    """

    def first_id(sql: str, params: dict[str, Any]) -> int | None:
        found = conn.execute(sa.text(sql), params).scalar()
        return None if found is None else int(found)

    def insert(batch: list[NewJob]) -> list[int]:
        result = conn.execute(
            jobs.insert().returning(jobs.c.id, sort_by_parameter_order=True),
            [new_job_values(j, now) for j in batch],
        )
        return [r[0] for r in result]

    def insert_keyed(job: NewJob) -> int | None:
        stmt = (
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
        found = conn.execute(stmt).scalar()
        return None if found is None else int(found)

    ids, created = enqueueing.enqueue_with_rules(
        new_jobs, now, first_id=first_id, insert=insert, insert_keyed=insert_keyed
    )
    if created:
        conn.execute(NOTIFY)
    return ids


# --- fires -------------------------------------------------------------------------------------
_j = sa.alias(jobs, "j")


def _overlap(horizon: datetime) -> sa.TextClause:
    return sa.text(ACTIVE_FOR_OVERLAP).bindparams(
        sa.bindparam("horizon", horizon, type_=UTCDateTime())
    )


class FireStatements:
    """``firing.FireSql`` on PostgreSQL: schedulers share the due schedules, a locked one
    belongs to another scheduler (SKIP LOCKED)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def due(self, horizon: datetime, limit: int) -> list[DueSchedule]:
        query = (
            sa.select(*(tasks.c[name] for name in DUE_COLUMNS))
            .where(
                tasks.c.enabled.is_(True),
                tasks.c.removed_at.is_(None),
                tasks.c.next_fire_at.isnot(None),
                tasks.c.next_fire_at <= horizon,
                unpaused(horizon),
            )
            .order_by(tasks.c.next_fire_at, tasks.c.name)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        found = self._conn.execute(query).all()
        active = self._active_counts([r[0] for r in found], horizon)
        return [due_schedule((*r, active.get(r[0], 0))) for r in found]

    def requirement_met(self, task_name: str, on: UpstreamOn, since: datetime) -> bool:
        query = sa.text(requirement_sql(on)).bindparams(
            sa.bindparam("since", type_=UTCDateTime()), sa.bindparam("floor", type_=UTCDateTime())
        )
        return self._conn.execute(query, requirement_params(task_name, since)).first() is not None

    def _active_counts(self, names: list[str], horizon: datetime) -> dict[str, int]:
        if not names:
            return {}
        query = (
            sa.select(_j.c.task_name, sa.func.count())
            .where(
                _j.c.task_name.in_(names),
                _j.c.state.in_(ACTIVE_SQL),  # the partial index's predicate
                _overlap(horizon),
            )
            .group_by(_j.c.task_name)
        )
        return {name: n for name, n in self._conn.execute(query)}

    def advance(self, fires: Sequence[Fire]) -> None:
        for fire in fires:
            self._conn.execute(
                tasks.update()
                .where(tasks.c.name == fire.task_name)
                # A due task is not paused, or its pause is over: cleared as it fires.
                .values(
                    next_fire_at=fire.next_fire_at,
                    last_fire_at=fire.previous_next_fire_at,
                    **pause_values(None),
                )
            )

    def replace_active(self, task_name: str, now: datetime, horizon: datetime, reason: str) -> None:
        # UPDATE tickwork_jobs AS j: SQLAlchemy takes an aliased table, its stubs do not say so.
        self._conn.execute(
            sa.update(_j)  # type: ignore[arg-type]
            .where(_j.c.task_name == task_name, _j.c.state.in_(PENDING_SQL), _overlap(horizon))
            .values(state="cancelled", finished_at=now, last_error=reason)
        )
        self._conn.execute(
            jobs.update()
            .where(
                jobs.c.task_name == task_name,
                jobs.c.state == "running",
                jobs.c.cancel_requested_at.is_(None),
            )
            .values(cancel_requested_at=now)
        )

    def insert_once(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        created: list[int] = []
        for new in new_jobs:
            stmt = (
                pg_insert(jobs)
                .values(**new_job_values(new, now))
                .on_conflict_do_nothing(index_elements=["task_name", "fire_at"])
                .returning(jobs.c.id)
            )
            job_id = self._conn.execute(stmt).scalar()
            if job_id is not None:
                created.append(job_id)
        return created

    def record_missed(self, missed: Sequence[NewMissedFire], now: datetime) -> None:
        activity.add_missed(self._conn, missed, now)

    def notify(self) -> None:
        self._conn.execute(NOTIFY)


# --- run statistics ------------------------------------------------------------------------------
def run_stats(
    conn: Connection, start: datetime, end: datetime, task_name: str | None
) -> list[RunStats]:
    where = [runs.c.started_at >= start, runs.c.started_at < end]
    if task_name is not None:
        where.append(runs.c.task_name == task_name)
    timed = runs.c.status.in_(TIMED_SQL)
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
    stats = [
        RunStats(name, n, ok, bad, _float(avg), _float(p95), _float(top))
        for name, n, ok, bad, avg, p95, top in conn.execute(stmt)
    ]
    # Sorted here: the database's collation may order names differently from Python.
    return sorted(stats, key=lambda s: s.task_name)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
