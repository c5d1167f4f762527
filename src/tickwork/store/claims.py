"""Claiming due jobs under the execution policies on PostgreSQL (raw psycopg, called from
``pg_fast.claim``), and ``explain`` (SQLAlchemy Core).

The SQLite store has the same algorithm on the raw driver in ``sqlite_fast.claim``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.admission import (
    GLOBAL,
    Admitter,
    Candidate,
    ClaimRules,
    Hold,
    limiter_names,
    task_limiter,
)
from tickwork.domain.jobs import Job, JobState
from tickwork.domain.limits import OverlapPolicy, Policies, policies_from_dict
from tickwork.store.sql import PENDING_SQL, jobs, limiters, tasks

CANDIDATE_PAGE = 200
MAX_CANDIDATES = 5000
# Claims that apply policies take this transaction-level advisory lock, so that two workers never
# admit against the same snapshot of running jobs (the limits are cluster-wide).
CLAIM_LOCK_KEY = 0x7469636B  # "tick"


# Candidates in claim order, less those that the running jobs alone already hold back (their
# key at its limit, their task queued behind a running job or out of rate): the database skips
# them itself, so a claim under binding limits does not page through held jobs in Python.
_CANDIDATES_SQL = """
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
_AFTER_SQL = """
  AND (j.priority < %(a_p)s OR (j.priority = %(a_p)s AND (j.scheduled_at > %(a_at)s
       OR (j.scheduled_at = %(a_at)s AND j.id > %(a_id)s))))
"""
_RUNNING_SQL = (
    "SELECT task_name, key, count(*) FROM tickwork_jobs WHERE state = 'running'"
    " GROUP BY task_name, key"
)
_LIMITED_SQL = "SELECT name, policies FROM tickwork_tasks WHERE claim_limited"
_TATS_SQL = "SELECT name, tat FROM tickwork_limiters WHERE name = ANY(%s::text[])"
_UPSERT_TAT_SQL = """
INSERT INTO tickwork_limiters (name, tat) SELECT * FROM unnest(%s::text[], %s::timestamptz[])
ON CONFLICT (name) DO UPDATE SET tat = excluded.tat
"""
_CLAIM_IDS_SQL = """
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = %(now)s, worker_id = %(worker)s,
    lease_expires_at = %(lease)s
WHERE id = ANY(%(ids)s::bigint[]) AND state IN ('scheduled', 'available', 'retrying')
RETURNING {columns}
"""


def claim_admitted(
    conn: Any,
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> tuple[list[Job], dict[int, Hold]]:
    """Claim under the policies on a raw psycopg connection, inside the caller's transaction.

    Returns the claimed jobs and, for candidates read and passed over, the hold of each (jobs
    that the SQL pre-filter skipped have none).
    """
    from tickwork.store.pg_fast import JOB_COLUMNS, job_from_tuple

    # The limits are cluster-wide: admit under the lock, taken before any row is locked (a
    # claimer holding rows while it waits for the lock would deadlock with the lock's holder).
    # Under it the snapshot is stable; rows taken meanwhile by a claimer of the one-statement
    # path are skipped by the final UPDATE, which re-checks the state.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK_KEY,))
    running = {(t, k): n for t, k, n in conn.execute(_RUNNING_SQL)}
    cache: dict[str, Policies] = {}
    limited = {name: _policies(raw, cache) for name, raw in conn.execute(_LIMITED_SQL).fetchall()}
    admitter = Admitter(running, {}, rules, now)
    # Task-wide limiters first: a task out of rate is filtered out like a queued one.
    admitter.add_tats(_read_tats(conn, _task_limiters(limited, rules)))
    params: dict[str, Any] = {"horizon": horizon, **_exclusions(admitter, limited, rules)}
    if params["held_tasks"] is None:  # the global rate limit admits nothing now
        return [], {}
    size = min(max(limit * 2, 32), CANDIDATE_PAGE)
    sql = _CANDIDATES_SQL.format(after="")
    seen = 0
    while True:
        page = conn.execute(sql, {**params, "page": size}).fetchall()
        candidates = [Candidate(r[0], r[1], r[2], _policies(r[3], cache)) for r in page]
        admitter.add_tats(
            _read_tats(conn, limiter_names(candidates, rules) - admitter.state.keys())
        )
        admitter.admit(candidates, limit)
        seen += len(page)
        if len(admitter.result.ids) >= limit or len(page) < size or seen >= MAX_CANDIDATES:
            break
        # What this claim admitted counts too: keys it filled are filtered out of the next
        # pages, so a claim does not read the rest of the queue to find nothing.
        params.update(_exclusions(admitter, limited, rules))
        if params["held_tasks"] is None:
            break
        last = page[-1]
        params.update(a_p=last[4], a_at=last[5], a_id=last[0])
        sql = _CANDIDATES_SQL.format(after=_AFTER_SQL)
        size = CANDIDATE_PAGE
    result = admitter.result
    if result.tats:
        names = list(result.tats)
        conn.execute(_UPSERT_TAT_SQL, (names, [result.tats[n] for n in names]))
    if not result.ids:
        return [], result.holds
    rows_ = conn.execute(
        _CLAIM_IDS_SQL.format(columns=JOB_COLUMNS),
        {"now": now, "worker": worker_id, "lease": lease_until, "ids": result.ids},
    ).fetchall()
    return [job_from_tuple(r) for r in rows_], result.holds


def _policies(raw: Any, cache: dict[str, Policies]) -> Policies:
    key = repr(raw)
    found = cache.get(key)
    if found is None:
        found = cache[key] = policies_from_dict(raw)
    return found


def _task_limiters(limited: dict[str, Policies], rules: ClaimRules) -> set[str]:
    names = {task_limiter(t) for t, p in limited.items() if p.rate_limit is not None}
    return names | ({GLOBAL} if rules.rate_limit else set())


def _read_tats(conn: Any, names: set[str]) -> dict[str, datetime]:
    if not names:
        return {}
    return {n: tat.astimezone(UTC) for n, tat in conn.execute(_TATS_SQL, (list(names),))}


def _exclusions(
    admitter: Admitter, limited: dict[str, Policies], rules: ClaimRules
) -> dict[str, Any]:
    """The SQL pre-filter's parameters: what the running jobs and the task-wide limiter states
    alone hold back (the admitter would hold every such job too). ``held_tasks`` is None when
    the global rate limit admits nothing now."""
    if rules.rate_limit and admitter.check(Candidate(0, "", None, Policies())) is not None:
        return {"held_tasks": None}
    # A keyless probe per task meets only its task-wide policies: overlap=queue, rate_limit.
    held_tasks = [
        t
        for t, p in limited.items()
        if (p.overlap is OverlapPolicy.QUEUE or p.rate_limit is not None)
        and admitter.check(
            Candidate(0, t, None, Policies(overlap=p.overlap, rate_limit=p.rate_limit))
        )
        is not None
    ]
    own = {t: p.key_limit for t, p in limited.items() if p.key_limit is not None}
    by_key = admitter.by_key
    full = [k for k, n in by_key.items() if rules.key_limit is not None and n >= rules.key_limit]
    pairs = [(t, k) for t, lim in own.items() for k, n in by_key.items() if n >= lim]
    return {
        "held_tasks": held_tasks,
        "full_keys": full,
        "own_limit": list(own),
        "pair_tasks": [t for t, _ in pairs],
        "pair_keys": [k for _, k in pairs],
    }


def explain(conn: Connection, job_id: int, now: datetime, rules: ClaimRules) -> Hold | None:
    """Why a pending job is not running now (None: nothing holds it, or it is not pending)."""
    row = conn.execute(
        sa.select(
            jobs.c.id,
            jobs.c.task_name,
            jobs.c.key,
            jobs.c.state,
            jobs.c.scheduled_at,
            tasks.c.policies,
        )
        .select_from(jobs.outerjoin(tasks, tasks.c.name == jobs.c.task_name))
        .where(jobs.c.id == job_id)
    ).first()
    if row is None or row.state not in PENDING_SQL:
        return None
    if row.scheduled_at > now:
        what = "a retry backoff" if row.state == JobState.RETRYING.value else "its time"
        return Hold("schedule", f"waiting for {what}", until=row.scheduled_at)
    candidate = Candidate(row.id, row.task_name, row.key, policies_from_dict(row.policies))
    return _admitter(conn, [candidate], rules, now).check(candidate)


def _admitter(
    conn: Connection, candidates: list[Candidate], rules: ClaimRules, now: datetime
) -> Admitter:
    """An admitter over a snapshot read now: running jobs by (task, key), and the limiters
    these candidates use."""
    return Admitter(_running(conn), _tats(conn, limiter_names(candidates, rules)), rules, now)


def _running(conn: Connection) -> dict[tuple[str, str | None], int]:
    rows_ = conn.execute(
        sa.select(jobs.c.task_name, jobs.c.key, sa.func.count())
        .where(jobs.c.state == JobState.RUNNING.value)
        .group_by(jobs.c.task_name, jobs.c.key)
    )
    return {(t, k): n for t, k, n in rows_}


def _tats(conn: Connection, names: set[str]) -> dict[str, datetime]:
    if not names:
        return {}
    query = sa.select(limiters.c.name, limiters.c.tat).where(limiters.c.name.in_(names))
    return {name: tat for name, tat in conn.execute(query)}
