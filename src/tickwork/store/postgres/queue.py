"""The PostgreSQL hot paths on raw psycopg: enqueue, claim (plain and under the policies),
complete.

Through SQLAlchemy each of these cost several round trips (pool ping, BEGIN, the statement,
NOTIFY, COMMIT) plus per-row parameter processing: bulk enqueue ran at ~180 µs per job. Here
each is one statement in autocommit mode where one statement can do it (the statement is its
own transaction, so NOTIFY still commits with the change), with rows passed as arrays and
``unnest``, in binary (``%b``: text arrays need no escaping, which cost a third of the time).
Values go in and come out as the column types do it (``CODEC``: JSON as text going in, parsed
by psycopg coming out; aware datetimes), so these statements and the Core queries read each
other's rows. The statements' column lists come from ``rows``; their array types from the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tickwork.domain.admission import ClaimRules
from tickwork.domain.jobs import Completion, Job, JobState, NewJob
from tickwork.store import claiming, latest
from tickwork.store.claiming import Exclusions
from tickwork.store.postgres.watch import NOTIFY_CHANNEL
from tickwork.store.rollups import (
    ERROR_ROLLUP_COLUMNS,
    KEY_ROLLUP_COLUMNS,
    ROLLUP_COLUMNS,
    SERIES_ROLLUP_COLUMNS,
    finished_of_completion,
    on_conflict_sql,
    rollup_rows,
)
from tickwork.store.rows import (
    COMPLETION_UPDATE,
    JOBS,
    NEW_JOB_COLUMNS,
    RUN_INSERT_COLUMNS,
    Codec,
    completion_run_row,
    completion_update,
    new_job_row,
)
from tickwork.store.schema import (
    UTCDateTime,
    error_rollups,
    jobs,
    key_rollups,
    rollups,
    runs,
    series_rollups,
)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


CODEC = Codec(time=_utc, encode_json=json.dumps)
job_from_tuple = JOBS.mapper(CODEC)


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


def array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type of a column's values passed in an array (JSON goes as text)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, sa.JSON | sa.String):  # Text is a String
        return "text"
    if isinstance(kind, sa.BigInteger):
        return "bigint"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.Float):
        return "float8"
    raise TypeError(f"no array type for {column}")


def _value(column: sa.Column[Any], ref: str) -> str:
    """``ref`` as the column's value: JSON text cast to json."""
    return f"{ref}::json" if isinstance(column.type, sa.JSON) else ref


def _unnest(table: sa.Table, names: Sequence[str], prefix: str = "") -> str:
    arrays = ", ".join(f"%({prefix}{n})b::{array_type(table.c[n])}[]" for n in names)
    return f"unnest({arrays})"


_NOTIFIED = f"notified AS MATERIALIZED (SELECT pg_notify('{NOTIFY_CHANNEL}', '') AS n)"

# --- enqueue ---------------------------------------------------------------------------------
# One statement inserts the whole batch and notifies. Rows are taken in their given order, so
# the sequence hands out ascending IDs in that order.
ENQUEUE_SQL = f"""
WITH ins AS (
    INSERT INTO tickwork_jobs ({", ".join(NEW_JOB_COLUMNS)}, attempt, created_at)
    SELECT {", ".join(_value(jobs.c[n], f"u.{n}") for n in NEW_JOB_COLUMNS)}, 0, %(now)b
    FROM {_unnest(jobs, NEW_JOB_COLUMNS)}
        WITH ORDINALITY AS u({", ".join(NEW_JOB_COLUMNS)}, ord)
    ORDER BY u.ord
    RETURNING id
), {_NOTIFIED}
SELECT ins.id FROM ins, notified
"""

# One job (the usual API or producer call): a plain VALUES row is cheaper to plan and to bind
# than the arrays of ``unnest`` (~0.2 ms a call).
ENQUEUE_ONE_SQL = f"""
WITH ins AS (
    INSERT INTO tickwork_jobs ({", ".join(NEW_JOB_COLUMNS)}, attempt, created_at)
    VALUES ({", ".join(_value(jobs.c[n], f"%({n})s") for n in NEW_JOB_COLUMNS)}, 0, %(now)s)
    RETURNING id
), {_NOTIFIED}
SELECT ins.id FROM ins, notified
"""


def enqueue_statement(new_jobs: Sequence[NewJob], now: datetime) -> tuple[str, dict[str, Any]]:
    """The one autocommit statement (with NOTIFY) that inserts jobs without unique keys or
    deadlines, and its parameters; it returns their IDs (sort them: that is their order)."""
    if len(new_jobs) == 1:
        row = new_job_row(new_jobs[0], now, CODEC)
        return ENQUEUE_ONE_SQL, {"now": now, **dict(zip(NEW_JOB_COLUMNS, row, strict=True))}
    columns = zip(*(new_job_row(j, now, CODEC) for j in new_jobs), strict=True)
    return ENQUEUE_SQL, {
        "now": now,
        **{name: list(c) for name, c in zip(NEW_JOB_COLUMNS, columns, strict=True)},
    }


def enqueue(conn: psycopg.Connection[Any], new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
    """Insert jobs without unique keys or deadlines in one autocommit statement (with NOTIFY);
    returns their IDs in order."""
    sql, params = enqueue_statement(new_jobs, now)
    return sorted(r[0] for r in conn.execute(sql, params).fetchall())


async def enqueue_async(
    conn: psycopg.AsyncConnection[Any], new_jobs: Sequence[NewJob], now: datetime
) -> list[int]:
    """``enqueue`` on an autocommit ``AsyncConnection`` (the event-loop path)."""
    sql, params = enqueue_statement(new_jobs, now)
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
RETURNING {JOBS.select_list}
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
    """``Store.claim`` on an autocommit connection: one statement while nothing can hold a job
    back, else under the policies in a transaction of its own."""
    if rules.empty:
        params = _claim_first_params(worker_id, limit, now, horizon, lease_until)
        rows = conn.execute(CLAIM_FIRST_SQL, params).fetchall()
        if rows or conn.execute(ANY_LIMITED_SQL).fetchone() is None:
            return [job_from_tuple(r) for r in rows]
    with conn.transaction():
        return claiming.claim_admitted(
            ClaimStatements(conn), worker_id, limit, now, horizon, lease_until, rules
        )


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
    then claims under the policies, ``claim``)."""
    params = _claim_first_params(worker_id, limit, now, horizon, lease_until)
    rows = await (await conn.execute(CLAIM_FIRST_SQL, params)).fetchall()
    if rows:
        return [job_from_tuple(r) for r in rows]
    if await (await conn.execute(ANY_LIMITED_SQL)).fetchone() is not None:
        return None
    return []


# Claims that apply policies take this transaction-level advisory lock, so that two workers never
# admit against the same snapshot of running jobs (the limits are cluster-wide).
CLAIM_LOCK_KEY = 0x7469636B  # "tick"

# Candidates in claim order, less those that the running jobs alone already hold back (their
# key at its limit, their task queued behind a running job or out of rate): the database skips
# them itself, so a claim under binding limits does not page through held jobs in Python.
CANDIDATES_SQL = """
SELECT j.id, j.task_name, j.key, t.policies, j.priority, j.scheduled_at
FROM tickwork_jobs AS j
LEFT JOIN tickwork_tasks AS t ON t.name = j.task_name
WHERE j.state IN ('scheduled', 'available', 'retrying') AND j.scheduled_at <= %(horizon)s
  AND j.task_name <> ALL(%(held_tasks)s::text[])
  AND (j.key IS NULL OR NOT (
        (j.key = ANY(%(full_keys)s::text[]) AND j.task_name <> ALL(%(own_limit)s::text[]))
        OR EXISTS (SELECT 1 FROM unnest(%(pair_tasks)s::text[], %(pair_keys)s::text[]) AS b(t, k)
                   WHERE b.t = j.task_name AND b.k = j.key)))
  {after}
ORDER BY j.priority DESC, j.scheduled_at, j.id
LIMIT %(page)s
"""
AFTER_SQL = """
  AND (j.priority < %(a_p)s OR (j.priority = %(a_p)s AND (j.scheduled_at > %(a_at)s
       OR (j.scheduled_at = %(a_at)s AND j.id > %(a_id)s))))
"""
RUNNING_SQL = (
    "SELECT task_name, key, count(*) FROM tickwork_jobs WHERE state = 'running'"
    " GROUP BY task_name, key"
)
LIMITED_SQL = "SELECT name, policies FROM tickwork_tasks WHERE claim_limited"
TATS_SQL = "SELECT name, tat FROM tickwork_limiters WHERE name = ANY(%s::text[])"
UPSERT_TAT_SQL = """
INSERT INTO tickwork_limiters (name, tat) SELECT * FROM unnest(%s::text[], %s::timestamptz[])
ON CONFLICT (name) DO UPDATE SET tat = excluded.tat
"""
# Rows taken meanwhile by a claimer of the one-statement path are skipped: the state is checked.
CLAIM_IDS_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = %(now)s, worker_id = %(worker)s,
    lease_expires_at = %(lease)s
WHERE id = ANY(%(ids)s::bigint[]) AND state IN ('scheduled', 'available', 'retrying')
RETURNING {JOBS.select_list}
"""


class ClaimStatements:
    """``claiming.ClaimSql`` on PostgreSQL, inside the caller's transaction: an advisory lock
    serialises the claims that admit, and the candidates' SQL leaves out what the snapshot
    alone holds back."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def lock(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK_KEY,))

    def running(self) -> dict[tuple[str, str | None], int]:
        return {(t, k): n for t, k, n in self._conn.execute(RUNNING_SQL)}

    def limited(self) -> list[tuple[str, Any]]:
        return self._conn.execute(LIMITED_SQL).fetchall()

    def tats(self, names: set[str]) -> dict[str, datetime]:
        if not names:
            return {}
        return {n: _utc(tat) for n, tat in self._conn.execute(TATS_SQL, (list(names),))}

    def candidates(
        self,
        horizon: datetime,
        size: int,
        after: tuple[Any, ...] | None,
        exclusions: Exclusions,
    ) -> list[Any]:
        params: dict[str, Any] = {
            "horizon": horizon,
            "page": size,
            "held_tasks": exclusions.held_tasks,
            "full_keys": exclusions.full_keys,
            "own_limit": exclusions.own_limit,
            "pair_tasks": [t for t, _ in exclusions.pairs],
            "pair_keys": [k for _, k in exclusions.pairs],
        }
        if after is None:
            return self._conn.execute(CANDIDATES_SQL.format(after=""), params).fetchall()
        params.update(a_p=after[0], a_at=after[1], a_id=after[2])
        return self._conn.execute(CANDIDATES_SQL.format(after=AFTER_SQL), params).fetchall()

    def save_tats(self, tats: dict[str, datetime]) -> None:
        names = list(tats)
        self._conn.execute(UPSERT_TAT_SQL, (names, [tats[n] for n in names]))

    def claim(
        self, ids: list[int], worker_id: str, now: datetime, lease_until: datetime
    ) -> list[Job]:
        rows = self._conn.execute(
            CLAIM_IDS_SQL, {"now": now, "worker": worker_id, "lease": lease_until, "ids": ids}
        ).fetchall()
        return [job_from_tuple(r) for r in rows]


# --- complete --------------------------------------------------------------------------------
# One statement: the jobs' new states (only where this attempt of this worker still runs), a run
# record each, and the watchdogs of the jobs that succeeded here cancelled. The CTEs all see one
# snapshot; watchdogs are pending, never the running rows updated here, so no row is hit twice.
_COMPLETE_CTES = f"""
WITH c AS (
    SELECT * FROM unnest(%(id)b::bigint[], %(attempt)b::int[], %(worker)b::text[],
        %(state)b::text[], %(finished_at)b::timestamptz[], %(retry_at)b::timestamptz[],
        %(last_error)b::text[], %(refund)b::int[])
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
    INSERT INTO tickwork_runs ({", ".join(RUN_INSERT_COLUMNS)})
    SELECT {", ".join(_value(runs.c[n], f"r.{n}") for n in RUN_INSERT_COLUMNS)}
    FROM {_unnest(runs, RUN_INSERT_COLUMNS, "run_")}
        WITH ORDINALITY AS r({", ".join(RUN_INSERT_COLUMNS)}, ord)
    ORDER BY r.ord
    RETURNING id, task_name, started_at, status
), latest AS (
    {
    latest.upsert_sql(
        "SELECT DISTINCT ON (task_name) task_name, id AS run_id, started_at, status FROM ins"
        f" ORDER BY {latest.NEWEST_ORDER_SQL}"
    )
}
)
"""


def _upsert_cte(name: str, table: sa.Table, names: Sequence[str]) -> str:
    """A CTE adding a batch's rollup rows (``store/rollups.py``), taken in their given order."""
    listed = ", ".join(names)
    return f"""{name} AS (
    INSERT INTO {table.name} ({listed})
    SELECT {", ".join(f"u.{n}" for n in names)}
    FROM {_unnest(table, names, f"{name}_")} WITH ORDINALITY AS u({listed}, ord)
    ORDER BY u.ord
    {on_conflict_sql(table)}
)"""


_ROLLUP_TABLES = (
    ("roll", rollups, ROLLUP_COLUMNS),
    ("keyroll", key_rollups, KEY_ROLLUP_COLUMNS),
    ("errroll", error_rollups, ERROR_ROLLUP_COLUMNS),
    ("serroll", series_rollups, SERIES_ROLLUP_COLUMNS),
)
_PENDING = frozenset({JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYING})
_RUN_PARAMS = tuple(f"run_{n}" for n in RUN_INSERT_COLUMNS)
_STATEMENTS: dict[tuple[bool, ...], str] = {}


def complete_statement(notify: bool, tables: tuple[bool, bool, bool, bool]) -> str:
    """The completion statement with the rollup upserts of the tables that get rows (flags in
    ``_ROLLUP_TABLES`` order). Run IDs come from one sequence in the order the rows are inserted
    (by ``ord``): sorted, they are in the order of the completions. Retrying or deferred jobs
    are due again later: other processes' workers are told (``notify``)."""
    found = _STATEMENTS.get((notify, *tables))
    if found is None:
        ctes = "".join(
            f", {_upsert_cte(name, table, names)}\n"
            for (name, table, names), used in zip(_ROLLUP_TABLES, tables, strict=True)
            if used
        )
        told = f", pg_notify('{NOTIFY_CHANNEL}', '')" if notify else ""
        found = f"{_COMPLETE_CTES}{ctes}SELECT array_agg(id ORDER BY id){told} FROM ins"
        _STATEMENTS[(notify, *tables)] = found
    return found


# The fullest form, as a constant for ``tests/store/test_rows.py`` to read its column lists.
COMPLETE_ALL_SQL = complete_statement(True, (True, True, True, True))


def complete(conn: psycopg.Connection[Any], completions: Sequence[Completion]) -> list[int]:
    """``Store.complete`` on an autocommit connection; returns the run IDs, in order."""
    if len({c.job_id for c in completions}) < len(completions):
        # One job twice in a batch: the updates must apply in order, so one statement each.
        with conn.transaction():
            return [run_id for c in completions for run_id in complete(conn, [c])]
    updates = zip(*(completion_update(c, CODEC) for c in completions), strict=True)
    inserts = zip(*(completion_run_row(c, CODEC) for c in completions), strict=True)
    params: dict[str, Any] = {
        "id": [c.job_id for c in completions],
        "attempt": [c.attempt for c in completions],
        "worker": [c.worker_id for c in completions],
        **{name: list(values) for name, values in zip(COMPLETION_UPDATE, updates, strict=True)},
        **{name: list(values) for name, values in zip(_RUN_PARAMS, inserts, strict=True)},
    }
    added = rollup_rows((finished_of_completion(c) for c in completions), CODEC)
    for (name, _, names), values in zip(
        _ROLLUP_TABLES, (added.rollups, added.keys, added.errors, added.series), strict=True
    ):
        if values:
            columns = zip(*values, strict=True)
            params.update({f"{name}_{n}": list(v) for n, v in zip(names, columns, strict=True)})
    pending = any(c.next_state in _PENDING for c in completions)
    statement = complete_statement(
        pending,
        (bool(added.rollups), bool(added.keys), bool(added.errors), bool(added.series)),
    )
    row = conn.execute(statement, params).fetchone()
    assert row is not None  # an aggregate always gives one row
    return list(row[0])
