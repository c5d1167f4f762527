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

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

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
from tickwork.store.engines import _readable
from tickwork.store.watch import NOTIFY_CHANNEL

_dumps = json.dumps
R = TypeVar("R")

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


# One job (the usual API or producer call): a plain VALUES row is cheaper to plan and to bind
# than the arrays of ``unnest`` (~0.2 ms a call).
ENQUEUE_ONE_SQL = f"""
WITH ins AS (
    INSERT INTO tickwork_jobs (task_name, state, args, kwargs, priority, key, unique_key,
        scheduled_at, attempt, max_attempts, triggered_by, fire_at, created_at, finished_at,
        last_error, watch_job_id)
    VALUES (%(task_name)s, %(state)s, %(args)s::json, %(kwargs)s::json, %(priority)s, %(key)s,
        %(unique_key)s, %(scheduled_at)s, 0, %(max_attempts)s, %(triggered_by)s, %(fire_at)s,
        %(now)s, %(finished_at)s, %(last_error)s, %(watch_job_id)s)
    RETURNING id
), notified AS MATERIALIZED (SELECT pg_notify('{NOTIFY_CHANNEL}', '') AS n)
SELECT ins.id FROM ins, notified
"""
_ENQUEUE_FIELDS = (
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


def _enqueue_row(j: NewJob, now: datetime) -> tuple[Any, ...]:
    return (
        j.task_name,
        new_job_state(j, now).value,
        _dumps(list(j.args)),
        _dumps(dict(j.kwargs)),
        j.priority,
        j.key,
        j.unique_key,
        j.scheduled_at,
        j.max_attempts,
        j.triggered_by.value,
        j.fire_at,
        now if j.skip_reason else None,
        j.skip_reason,
        j.watch_job_id,
    )


def enqueue_statement(jobs: Sequence[NewJob], now: datetime) -> tuple[str, dict[str, Any]]:
    """The one autocommit statement (with NOTIFY) that inserts jobs without unique keys or
    deadlines, and its parameters; it returns their IDs (sort them: that is their order)."""
    if len(jobs) == 1:
        return ENQUEUE_ONE_SQL, {
            "now": now,
            **dict(zip(_ENQUEUE_FIELDS, _enqueue_row(jobs[0], now), strict=True)),
        }
    columns = zip(*(_enqueue_row(j, now) for j in jobs), strict=True)
    return ENQUEUE_SQL, {
        "now": now,
        **{f: list(c) for f, c in zip(_ENQUEUE_FIELDS, columns, strict=True)},
    }


def enqueue(conn: psycopg.Connection[Any], jobs: Sequence[NewJob], now: datetime) -> list[int]:
    """Insert jobs without unique keys or deadlines in one autocommit statement (with NOTIFY);
    returns their IDs in order."""
    sql, params = enqueue_statement(jobs, now)
    return sorted(r[0] for r in conn.execute(sql, params).fetchall())


async def enqueue_async(
    conn: psycopg.AsyncConnection[Any], jobs: Sequence[NewJob], now: datetime
) -> list[int]:
    """``enqueue`` on an autocommit ``AsyncConnection`` (the event-loop path)."""
    sql, params = enqueue_statement(jobs, now)
    cur = await conn.execute(sql, params)
    return sorted(r[0] for r in await cur.fetchall())


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


def _claim_first_params(
    worker_id: str, limit: int, now: datetime, horizon: datetime, lease_until: datetime
) -> dict[str, Any]:
    return {
        "now": now,
        "worker": worker_id,
        "lease": lease_until,
        "horizon": horizon,
        "limit": limit,
    }


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
        params = _claim_first_params(worker_id, limit, now, horizon, lease_until)
        rows = conn.execute(CLAIM_FIRST_SQL, params).fetchall()
        if rows or conn.execute(ANY_LIMITED_SQL).fetchone() is None:
            return [job_from_tuple(r) for r in rows]
    return claim_admitted(conn, worker_id, limit, now, horizon, lease_until, rules)


def claim_admitted(
    conn: psycopg.Connection[Any],
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> list[Job]:
    """Claim under the policies (``claims.claim_admitted``) in a transaction of its own."""
    with conn.transaction():
        claimed, _ = claims.claim_admitted(conn, worker_id, limit, now, horizon, lease_until, rules)
    return claimed


async def claim_first_async(
    conn: psycopg.AsyncConnection[Any],
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
) -> list[Job] | None:
    """The one-statement claim (no claim rules) on an autocommit ``AsyncConnection``: the
    claimed jobs, or None when nothing came back and some task is claim-limited (the caller
    then claims under the policies, ``claim_admitted``)."""
    params = _claim_first_params(worker_id, limit, now, horizon, lease_until)
    rows = await (await conn.execute(CLAIM_FIRST_SQL, params)).fetchall()
    if rows:
        return [job_from_tuple(r) for r in rows]
    if await (await conn.execute(ANY_LIMITED_SQL)).fetchone() is not None:
        return None
    return []


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
    RETURNING id
)
"""
# Run IDs come from one sequence in the order the rows are inserted (by ``ord``): sorted, they
# are in the order of the completions.
COMPLETE_SQL = _COMPLETE_CTES + "SELECT array_agg(id ORDER BY id) FROM ins"
# Retrying or deferred jobs are due again later: other processes' workers are told.
COMPLETE_NOTIFY_SQL = (
    _COMPLETE_CTES + f"SELECT array_agg(id ORDER BY id), pg_notify('{NOTIFY_CHANNEL}', '') FROM ins"
)


def complete(conn: psycopg.Connection[Any], completions: Sequence[Completion]) -> list[int]:
    """Write ``completions`` (see ``Store.complete``); returns their run IDs, in order."""
    if len({c.job_id for c in completions}) < len(completions):
        # One job twice in a batch: the updates must apply in order, so one statement each.
        with conn.transaction():
            return [run_id for c in completions for run_id in complete(conn, [c])]
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
    row = conn.execute(COMPLETE_NOTIFY_SQL if pending else COMPLETE_SQL, p).fetchone()
    assert row is not None  # an aggregate always gives one row
    return list(row[0])


_PENDING = frozenset({JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYING})


# --- the event-loop connection ---------------------------------------------------------------
class LoopConnection:
    """One autocommit ``AsyncConnection`` for the hot calls made on the event loop (enqueue and
    the plain claim): no hop to a store thread and back, ~0.3 ms a call when idle.

    It serves one call at a time and never makes anyone wait: ``run`` returns None while it is
    in use (by another coroutine, or another thread's loop), and the caller takes the thread
    path, so concurrent producers are not serialised. (The guard is a ``threading.Lock`` taken
    without blocking: unlike an ``asyncio.Lock`` it is bound to no loop and safe across
    threads.) It is opened lazily on the running loop; a call from another loop drops it (its
    socket closed, never awaited there) and opens one there. A statement that fails on a lost
    connection drops it too; the error propagates (writes are not repeated: their commit is
    unknown) and the next call reconnects.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = threading.Lock()
        self._close_when_free = False

    async def run(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[R]]) -> R | None:
        if not self._busy.acquire(blocking=False):
            return None
        try:
            loop = asyncio.get_running_loop()
            conn = self._conn
            # Bound to another loop; or found dead by the pool's check (engines.py): an idle
            # connection has nothing to read, so a readable socket means the server ended it.
            # Nothing was sent on it yet, so a new connection is safe even for a write.
            if conn is not None and (
                self._loop is not loop or conn.closed or _readable(conn.fileno())
            ):
                self._drop()
                conn = None
            if conn is None:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=LOOP_APPLICATION_NAME,
                )
                self._conn, self._loop = conn, loop
            try:
                return await fn(conn)
            except psycopg.Error as exc:
                if conn.closed or isinstance(exc, psycopg.OperationalError):
                    self._drop()
                raise
            except BaseException:
                self._drop()  # cancelled mid-statement: the connection's state is unknown
                raise
        finally:
            if self._close_when_free:
                self._drop()
            self._busy.release()

    async def close(self) -> None:
        if not self._busy.acquire(blocking=False):
            self._close_when_free = True  # the call in flight closes it when done
            return
        try:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            if self._loop is asyncio.get_running_loop():
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
            elif not conn.closed:
                conn.pgconn.finish()
        finally:
            self._busy.release()

    def _drop(self) -> None:
        """Forget the connection, closing its socket without the loop it belongs to (call with
        ``_busy`` held)."""
        conn, self._conn, self._close_when_free = self._conn, None, False
        if conn is not None and not conn.closed:
            conn.pgconn.finish()


LOOP_APPLICATION_NAME = "tickwork-loop"
