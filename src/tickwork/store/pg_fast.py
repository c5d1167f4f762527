"""The hot path of the PostgreSQL store (enqueue, claim, complete) on the raw psycopg connection.

Through SQLAlchemy each of these cost several round trips (pool ping, BEGIN, the statement,
NOTIFY, COMMIT) plus per-row parameter processing: bulk enqueue ran at ~180 µs per job. Here
each is one statement in autocommit mode where one statement can do it (the statement is its
own transaction, so NOTIFY still commits with the change), with rows passed as arrays and
``unnest``, in binary (``%b``: text arrays need no escaping, which cost a third of the time).
The SQL matches the Core version; values go in and come out exactly as the column types do it
(JSON text, aware UTC datetimes), so both paths read each other's rows. Jobs with unique keys or
deadlines keep the general path (``SqlStore._enqueue_checked``); claims under policies are in
``claims.claim_admitted``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from tickwork.domain.admission import ClaimRules
from tickwork.domain.jobs import (
    TERMINAL_STATES,
    Completion,
    Job,
    JobState,
    NewJob,
    TriggeredBy,
    new_job_state,
)
from tickwork.store import claims
from tickwork.store.watch import NOTIFY_CHANNEL

_dumps = json.dumps

JOB_COLUMNS = (
    "id, task_name, state, args, kwargs, priority, key, unique_key, scheduled_at, attempt, "
    "max_attempts, triggered_by, fire_at, created_at, started_at, finished_at, worker_id, "
    "lease_expires_at, last_error"
)


@contextmanager
def connection(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled psycopg connection in autocommit mode (each statement commits on its own; use
    ``conn.transaction()`` for more). A connection found broken is dropped from the pool."""
    fairy = engine.raw_connection()
    conn: psycopg.Connection[Any] = fairy.driver_connection  # type: ignore[assignment]
    conn.autocommit = True
    try:
        yield conn
    except psycopg.Error:
        if conn.closed or conn.broken:
            fairy.invalidate()
        raise
    finally:
        if not conn.closed:
            try:
                conn.autocommit = False  # the SQLAlchemy paths expect implicit transactions
            except psycopg.Error:
                fairy.invalidate()
        fairy.close()


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def job_from_tuple(row: Sequence[Any]) -> Job:
    """A ``Job`` from the columns of ``JOB_COLUMNS`` (JSON already parsed by psycopg)."""
    return Job(
        id=row[0],
        task_name=row[1],
        state=JobState(row[2]),
        args=row[3],
        kwargs=row[4],
        priority=row[5],
        key=row[6],
        unique_key=row[7],
        scheduled_at=row[8].astimezone(UTC),
        attempt=row[9],
        max_attempts=row[10],
        triggered_by=TriggeredBy(row[11]),
        fire_at=_utc(row[12]),
        created_at=row[13].astimezone(UTC),
        started_at=_utc(row[14]),
        finished_at=_utc(row[15]),
        worker_id=row[16],
        lease_expires_at=_utc(row[17]),
        last_error=row[18],
    )


# --- enqueue ---------------------------------------------------------------------------------
# One statement inserts the whole batch and notifies. Rows are taken in their given order, so
# the sequence hands out ascending IDs in that order.
ENQUEUE_SQL = f"""
WITH ins AS (
    INSERT INTO tickwork_jobs (task_name, state, args, kwargs, priority, key, unique_key,
        scheduled_at, attempt, max_attempts, triggered_by, fire_at, created_at, finished_at,
        last_error, watch_job_id)
    SELECT u.task_name, u.state, u.args::json, u.kwargs::json, u.priority, u.key, u.unique_key,
        u.scheduled_at, 0, u.max_attempts, u.triggered_by, u.fire_at, %(now)b, u.finished_at,
        u.last_error, u.watch_job_id
    FROM unnest(%(task_name)b::text[], %(state)b::text[], %(args)b::text[], %(kwargs)b::text[],
        %(priority)b::int[], %(key)b::text[], %(unique_key)b::text[],
        %(scheduled_at)b::timestamptz[], %(max_attempts)b::int[], %(triggered_by)b::text[],
        %(fire_at)b::timestamptz[], %(finished_at)b::timestamptz[], %(last_error)b::text[],
        %(watch_job_id)b::bigint[])
        WITH ORDINALITY AS u(task_name, state, args, kwargs, priority, key, unique_key,
            scheduled_at, max_attempts, triggered_by, fire_at, finished_at, last_error,
            watch_job_id, ord)
    ORDER BY u.ord
    RETURNING id
), notified AS MATERIALIZED (SELECT pg_notify('{NOTIFY_CHANNEL}', '') AS n)
SELECT ins.id FROM ins, notified
"""


def enqueue(conn: psycopg.Connection[Any], jobs: Sequence[NewJob], now: datetime) -> list[int]:
    """Insert jobs without unique keys or deadlines in one autocommit statement (with NOTIFY);
    returns their IDs in order."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "task_name",
            "state",
            "args",
            "kwargs",
            "priority",
            "key",
            "unique_key",
            "scheduled_at",
            "max_attempts",
            "triggered_by",
            "fire_at",
            "finished_at",
            "last_error",
            "watch_job_id",
        )
    }
    c = columns
    for j in jobs:
        c["task_name"].append(j.task_name)
        c["state"].append(new_job_state(j, now).value)
        c["args"].append(_dumps(list(j.args)))
        c["kwargs"].append(_dumps(dict(j.kwargs)))
        c["priority"].append(j.priority)
        c["key"].append(j.key)
        c["unique_key"].append(j.unique_key)
        c["scheduled_at"].append(j.scheduled_at)
        c["max_attempts"].append(j.max_attempts)
        c["triggered_by"].append(j.triggered_by.value)
        c["fire_at"].append(j.fire_at)
        c["finished_at"].append(now if j.skip_reason else None)
        c["last_error"].append(j.skip_reason)
        c["watch_job_id"].append(j.watch_job_id)
    rows = conn.execute(ENQUEUE_SQL, {"now": now, **columns}).fetchall()
    return sorted(r[0] for r in rows)


# --- claim -----------------------------------------------------------------------------------
# While no task is claim-limited, one statement claims the first `limit` due jobs; the check is
# part of it (a one-time filter), so a claim is one round trip. No row back: either nothing is
# due or some task is limited, which ANY_LIMITED_SQL then tells apart.
CLAIM_FIRST_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = %(now)s, worker_id = %(worker)s,
    lease_expires_at = %(lease)s
WHERE id IN (
    SELECT id FROM tickwork_jobs
    WHERE state IN ('scheduled', 'available', 'retrying') AND scheduled_at <= %(horizon)s
      AND NOT EXISTS (SELECT 1 FROM tickwork_tasks WHERE claim_limited)
    ORDER BY priority DESC, scheduled_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING {JOB_COLUMNS}
"""
ANY_LIMITED_SQL = "SELECT 1 FROM tickwork_tasks WHERE claim_limited LIMIT 1"


def claim(
    conn: psycopg.Connection[Any],
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> list[Job]:
    if rules.empty:
        rows = conn.execute(
            CLAIM_FIRST_SQL,
            {
                "now": now,
                "worker": worker_id,
                "lease": lease_until,
                "horizon": horizon,
                "limit": limit,
            },
        ).fetchall()
        if rows or conn.execute(ANY_LIMITED_SQL).fetchone() is None:
            return [job_from_tuple(r) for r in rows]
    with conn.transaction():
        claimed, _ = claims.claim_admitted(conn, worker_id, limit, now, horizon, lease_until, rules)
    return claimed


# --- complete --------------------------------------------------------------------------------
# One statement: the jobs' new states (only where this attempt of this worker still runs), a run
# record each, and the watchdogs of the jobs that succeeded here cancelled. The CTEs all see one
# snapshot; watchdogs are pending, never the running rows updated here, so no row is hit twice.
_COMPLETE_CTES = """
WITH c AS (
    SELECT * FROM unnest(%(id)b::bigint[], %(attempt)b::int[], %(worker)b::text[],
        %(state)b::text[], %(finished)b::timestamptz[], %(retry_at)b::timestamptz[],
        %(error)b::text[], %(refund)b::int[])
        AS c(id, attempt, worker, state, finished, retry_at, error, refund)
), upd AS (
    UPDATE tickwork_jobs AS j
    SET state = c.state, finished_at = c.finished,
        scheduled_at = COALESCE(c.retry_at, j.scheduled_at), lease_expires_at = NULL,
        last_error = c.error, attempt = j.attempt - c.refund
    FROM c
    WHERE j.id = c.id AND j.state = 'running' AND j.attempt = c.attempt
      AND j.worker_id IS NOT DISTINCT FROM c.worker
    RETURNING j.id, j.state, j.finished_at
), watchdogs AS (
    UPDATE tickwork_jobs AS d
    SET state = 'cancelled', finished_at = u.finished_at,
        last_error = 'watched job ' || u.id || ' succeeded in time'
    FROM upd AS u
    WHERE u.state = 'succeeded' AND d.watch_job_id = u.id
      AND d.state IN ('scheduled', 'available', 'retrying')
), ins AS (
    INSERT INTO tickwork_runs (job_id, task_name, attempt, status, triggered_by, started_at,
        finished_at, duration_seconds, worker_id, error_type, error_class, error_message,
        traceback, exit_code, output, result, metrics)
    SELECT r.job_id, r.task_name, r.attempt, r.status, r.triggered_by, r.started_at,
        r.finished_at, r.duration, r.worker_id, r.error_type, r.error_class, r.error_message,
        r.traceback, r.exit_code, r.output, r.result::json, r.metrics::json
    FROM unnest(%(id)b::bigint[], %(task_name)b::text[], %(attempt)b::int[],
        %(status)b::text[], %(triggered_by)b::text[], %(started)b::timestamptz[],
        %(finished_run)b::timestamptz[], %(duration)b::float8[], %(worker)b::text[],
        %(error_type)b::text[], %(error_class)b::text[], %(error_message)b::text[],
        %(traceback)b::text[], %(exit_code)b::int[], %(output)b::text[], %(result)b::text[],
        %(metrics)b::text[])
        WITH ORDINALITY AS r(job_id, task_name, attempt, status, triggered_by, started_at,
            finished_at, duration, worker_id, error_type, error_class, error_message,
            traceback, exit_code, output, result, metrics, ord)
    ORDER BY r.ord
)
"""
COMPLETE_SQL = _COMPLETE_CTES + "SELECT count(*) FROM upd"
# Retrying or deferred jobs are due again later: other processes' workers are told.
COMPLETE_NOTIFY_SQL = (
    _COMPLETE_CTES + f"SELECT count(*), pg_notify('{NOTIFY_CHANNEL}', '') FROM upd"
)


def complete(conn: psycopg.Connection[Any], completions: Sequence[Completion]) -> None:
    if len({c.job_id for c in completions}) < len(completions):
        # One job twice in a batch: the updates must apply in order, so one statement each.
        with conn.transaction():
            for c in completions:
                complete(conn, [c])
        return
    p: dict[str, list[Any]] = {
        name: []
        for name in (
            "id",
            "attempt",
            "worker",
            "state",
            "finished",
            "retry_at",
            "error",
            "refund",
            "task_name",
            "status",
            "triggered_by",
            "started",
            "finished_run",
            "duration",
            "error_type",
            "error_class",
            "error_message",
            "traceback",
            "exit_code",
            "output",
            "result",
            "metrics",
        )
    }
    pending = False
    for c in completions:
        o = c.outcome
        p["id"].append(c.job_id)
        p["attempt"].append(c.attempt)
        p["worker"].append(c.worker_id)
        p["state"].append(c.next_state.value)
        p["finished"].append(c.finished_at if c.next_state in TERMINAL_STATES else None)
        p["retry_at"].append(c.retry_at)
        p["error"].append(o.error_message)
        p["refund"].append(1 if c.refund_attempt else 0)
        p["task_name"].append(c.task_name)
        p["status"].append(o.status.value)
        p["triggered_by"].append(c.triggered_by.value)
        p["started"].append(c.started_at)
        p["finished_run"].append(c.finished_at)
        p["duration"].append(max((c.finished_at - c.started_at).total_seconds(), 0.0))
        p["error_type"].append(o.error_type)
        p["error_class"].append(o.error_class.value if o.error_class else None)
        p["error_message"].append(o.error_message)
        p["traceback"].append(o.traceback)
        p["exit_code"].append(o.exit_code)
        p["output"].append(o.output)
        p["result"].append(_dumps(o.result))
        p["metrics"].append(_dumps(o.metrics))
        pending = pending or c.next_state in _PENDING
    conn.execute(COMPLETE_NOTIFY_SQL if pending else COMPLETE_SQL, p)


_PENDING = frozenset({JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYING})
