"""The cluster's figures in SQL (Core, both dialects), read together for the metrics endpoint:
lifetime rollups, the active queue, schedules, missed fires and processors.

Every statement is bounded by what is defined or active, never by the history: run counts and
durations come from the rollups (period 0: one row per task, status and bucket), the last
success of a task from its newest runs through ``ix_tickwork_runs_task_started``.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.jobs import JobState, RunStatus
from tickwork.domain.metrics import Buckets, ClusterFigures
from tickwork.store import jobs as job_sql
from tickwork.store import processors as processor_sql
from tickwork.store import tasks as task_sql
from tickwork.store.runs import TIMED_SQL
from tickwork.store.schema import ACTIVE_SQL, jobs, missed_fires, rollups, runs, tasks

# The rollups' measures (``schema.rollups``) and the period of the lifetime rows.
MEASURE_DURATION = "duration"
MEASURE_WAIT = "wait"
LIFETIME_PERIOD = 0


def cluster_figures(conn: Connection, now: datetime) -> ClusterFigures:
    """``Store.cluster_figures``."""
    completed, durations, waits = _lifetime(conn)
    queue_query = (
        sa.select(jobs.c.state, sa.func.count())
        .where(job_sql.in_states(ACTIVE_SQL))
        .group_by(jobs.c.state)
    )
    counts = {JobState(state): int(n) for state, n in conn.execute(queue_query)}
    _, oldest_due_at = job_sql.due_jobs(conn, now)
    missed_query = sa.select(
        missed_fires.c.task_name, missed_fires.c.reason, sa.func.count()
    ).group_by(missed_fires.c.task_name, missed_fires.c.reason)
    # A paused task keeps its stale next fire until it resumes: it has no next fire to show.
    next_query = sa.select(tasks.c.name, tasks.c.next_fire_at).where(
        task_sql.firing(), task_sql.unpaused(now)
    )
    return ClusterFigures(
        taken_at=now,
        completed=completed,
        durations=durations,
        waits=waits,
        queue={JobState(s): counts.get(JobState(s), 0) for s in ACTIVE_SQL},
        oldest_due_at=oldest_due_at,
        last_success=_last_success(conn),
        next_fire={name: at for name, at in conn.execute(next_query)},
        missed_fires={(t, r): int(n) for t, r, n in conn.execute(missed_query)},
        processors=processor_sql.list_all(conn),
    )


def _lifetime(
    conn: Connection,
) -> tuple[dict[tuple[str, str], int], dict[str, Buckets], dict[str, Buckets]]:
    """Runs by (task, status), and the durations and waits by task, from the lifetime rows."""
    r = rollups
    query = sa.select(
        r.c.task_name, r.c.measure, r.c.status, r.c.bucket, r.c.count, r.c.total
    ).where(r.c.period_seconds == LIFETIME_PERIOD)
    completed: dict[tuple[str, str], int] = {}
    # task -> (bucket -> count, summed seconds)
    timed: dict[str, tuple[dict[int, int], list[float]]] = {}
    waited: dict[str, tuple[dict[int, int], list[float]]] = {}
    for task, measure, status, bucket, count, total in conn.execute(query):
        if measure == MEASURE_DURATION:
            completed[(task, status)] = completed.get((task, status), 0) + int(count)
            if status not in TIMED_SQL:
                continue
            into = timed
        elif measure == MEASURE_WAIT:
            into = waited
        else:
            continue
        counts, total_seconds = into.setdefault(task, ({}, [0.0]))
        counts[int(bucket)] = counts.get(int(bucket), 0) + int(count)
        total_seconds[0] += float(total)
    durations = {t: Buckets(counts, total[0]) for t, (counts, total) in timed.items()}
    waits = {t: Buckets(counts, total[0]) for t, (counts, total) in waited.items()}
    return completed, durations, waits


def _last_success(conn: Connection) -> dict[str, datetime]:
    """Each defined task's latest successful run's finish: per task, its runs newest first by
    start through ``ix_tickwork_runs_task_started``, up to the first success (few rows for a
    task that mostly succeeds)."""
    latest = (
        sa.select(runs.c.finished_at)
        .where(runs.c.task_name == tasks.c.name, runs.c.status == RunStatus.SUCCEEDED.value)
        .order_by(runs.c.started_at.desc())
        .limit(1)
        .correlate(tasks)
        .scalar_subquery()
    )
    query = sa.select(tasks.c.name, sa.type_coerce(latest, runs.c.finished_at.type)).where(
        tasks.c.removed_at.is_(None)
    )
    return {name: at for name, at in conn.execute(query) if at is not None}
