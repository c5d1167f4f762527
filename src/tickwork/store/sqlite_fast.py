"""The hot path of the SQLite store (claim, complete, enqueue) on the raw sqlite3 connection.

These three statements run once per job; going through SQLAlchemy's parameter processing cost
more than the SQL itself (measured: ~180 µs per job before, see docs/benchmarks.md). The SQL is
the same as the Core version; values are converted here exactly as the column types do it
(epoch seconds for times, ``json.dumps`` text for JSON), so both paths read each other's rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tickwork.domain.admission import (
    Admitter,
    Candidate,
    ClaimRules,
    Hold,
    limiter_names,
    needs_admission,
)
from tickwork.domain.jobs import (
    TERMINAL_STATES,
    Completion,
    Job,
    JobState,
    NewJob,
    TriggeredBy,
    new_job_state,
)
from tickwork.domain.limits import Policies, policies_from_dict
from tickwork.store.base import DueSchedule, FirePlanner

_dumps = json.dumps
_loads = json.loads
_fromts = datetime.fromtimestamp

JOB_COLUMNS = (
    "id, task_name, state, args, kwargs, priority, key, unique_key, scheduled_at, attempt, "
    "max_attempts, triggered_by, fire_at, created_at, started_at, finished_at, worker_id, "
    "lease_expires_at, last_error"
)

COMPLETE_SQL = """
UPDATE tickwork_jobs
SET state = ?, finished_at = ?, scheduled_at = COALESCE(?, scheduled_at),
    lease_expires_at = NULL, last_error = ?, attempt = attempt - ?
WHERE id = ? AND state = 'running' AND attempt = ? AND worker_id IS ?
"""

# A job that succeeded (this write applied: its state says so) cancels its pending watchdogs.
CANCEL_WATCHDOGS_SQL = """
UPDATE tickwork_jobs AS d
SET state = 'cancelled', finished_at = w.finished_at,
    last_error = 'watched job ' || w.id || ' succeeded in time'
FROM tickwork_jobs AS w
WHERE w.id = ? AND w.state = 'succeeded' AND d.watch_job_id = w.id
  AND d.state IN ('scheduled', 'available', 'retrying')
"""

INSERT_RUN_SQL = """
INSERT INTO tickwork_runs (id, job_id, task_name, attempt, status, triggered_by, started_at,
    finished_at, duration_seconds, worker_id, error_type, error_class, error_message, traceback,
    exit_code, output, result, metrics)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
LAST_RUN_ID_SQL = "SELECT max(id) FROM tickwork_runs"

INSERT_JOB_SQL = """
INSERT INTO tickwork_jobs (id, task_name, state, args, kwargs, priority, key, unique_key,
    scheduled_at, attempt, max_attempts, triggered_by, fire_at, created_at, finished_at,
    last_error, watch_job_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)
"""


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else _fromts(value, UTC)


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        task_name=row[1],
        state=JobState(row[2]),
        args=_loads(row[3]),
        kwargs=_loads(row[4]),
        priority=row[5],
        key=row[6],
        unique_key=row[7],
        scheduled_at=_fromts(row[8], UTC),
        attempt=row[9],
        max_attempts=row[10],
        triggered_by=TriggeredBy(row[11]),
        fire_at=_dt(row[12]),
        created_at=_fromts(row[13], UTC),
        started_at=_dt(row[14]),
        finished_at=_dt(row[15]),
        worker_id=row[16],
        lease_expires_at=_dt(row[17]),
        last_error=row[18],
    )


_PENDING_WHERE = "j.state IN ('scheduled', 'available', 'retrying') AND j.scheduled_at <= ?"
_AFTER = (
    " AND (j.priority < ? OR (j.priority = ? AND (j.scheduled_at > ?"
    " OR (j.scheduled_at = ? AND j.id > ?))))"
)
CANDIDATES_SQL = """
SELECT j.id, j.task_name, j.key, t.policies, j.priority, j.scheduled_at
FROM tickwork_jobs AS j INDEXED BY ix_tickwork_jobs_pending
LEFT JOIN tickwork_tasks AS t ON t.name = j.task_name
WHERE {where}
ORDER BY j.priority DESC, j.scheduled_at, j.id
LIMIT ?
"""
RUNNING_SQL = """
SELECT task_name, key, count(*) FROM tickwork_jobs INDEXED BY ix_tickwork_jobs_running
WHERE state = 'running' GROUP BY task_name, key
"""
CLAIM_IDS_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?, lease_expires_at = ?
WHERE id IN ({{ids}})
RETURNING {JOB_COLUMNS}
"""
UPSERT_LIMITER_SQL = """
INSERT INTO tickwork_limiters (name, tat) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET tat = excluded.tat
"""
ANY_LIMITED_SQL = (
    "SELECT 1 FROM tickwork_tasks INDEXED BY ix_tickwork_tasks_claim_limited"
    " WHERE claim_limited LIMIT 1"
)
CLAIM_FIRST_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?, lease_expires_at = ?
WHERE id IN (
    SELECT id FROM tickwork_jobs INDEXED BY ix_tickwork_jobs_pending
    WHERE state IN ('scheduled', 'available', 'retrying') AND scheduled_at <= ?
    ORDER BY priority DESC, scheduled_at, id
    LIMIT ?
)
RETURNING {JOB_COLUMNS}
"""
# Candidates read per page, and in all, when policies hold jobs back.
CANDIDATE_PAGE = 500
MAX_CANDIDATES = 5000


def _policies(text: str | None, cache: dict[str | None, Policies]) -> Policies:
    found = cache.get(text)
    if found is None:
        found = cache[text] = policies_from_dict(_loads(text) if text else None)
    return found


def _candidates(
    raw: sqlite3.Connection,
    horizon: float,
    size: int,
    after: tuple[Any, ...] | None,
    cache: dict[str | None, Policies],
) -> tuple[list[Candidate], tuple[Any, ...] | None]:
    if after is None:
        rows = raw.execute(CANDIDATES_SQL.format(where=_PENDING_WHERE), (horizon, size))
    else:
        p, at, i = after
        rows = raw.execute(
            CANDIDATES_SQL.format(where=_PENDING_WHERE + _AFTER), (horizon, p, p, at, at, i, size)
        )
    out: list[Candidate] = []
    last: tuple[Any, ...] | None = None
    for r in rows:
        out.append(Candidate(r[0], r[1], r[2], _policies(r[3], cache)))
        last = (r[4], r[5], r[0])
    return out, (last if len(out) == size else None)


def claim(
    raw: sqlite3.Connection,
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> tuple[list[Job], dict[int, Hold]]:
    """Claim up to ``limit`` due jobs that no policy holds back (the caller holds the write lock).

    Returns the claimed jobs and, for due jobs passed over, the hold that kept each back.
    """
    if rules.empty and raw.execute(ANY_LIMITED_SQL).fetchone() is None:
        # Nothing can hold a job back: one statement claims the first `limit` due jobs.
        rows = raw.execute(
            CLAIM_FIRST_SQL,
            (now.timestamp(), worker_id, lease_until.timestamp(), horizon.timestamp(), limit),
        ).fetchall()
        return [_job(r) for r in rows], {}
    cache: dict[str | None, Policies] = {}
    size = min(max(limit * 2, 32), CANDIDATE_PAGE)
    candidates, more = _candidates(raw, horizon.timestamp(), size, None, cache)
    if not candidates:
        return [], {}
    if not needs_admission(candidates, rules):
        ids = [c.id for c in candidates[:limit]]
        return _claim_ids(raw, ids, worker_id, now, lease_until), {}
    running = {(t, k): n for t, k, n in raw.execute(RUNNING_SQL)}
    admitter = Admitter(running, {}, rules, now)
    seen = 0
    while True:
        admitter.add_tats(_read_tats(raw, limiter_names(candidates, rules) - admitter.state.keys()))
        admitter.admit(candidates, limit)
        seen += len(candidates)
        if len(admitter.result.ids) >= limit or more is None or seen >= MAX_CANDIDATES:
            break
        candidates, more = _candidates(raw, horizon.timestamp(), CANDIDATE_PAGE, more, cache)
    result = admitter.result
    if result.tats:
        raw.executemany(
            UPSERT_LIMITER_SQL, [(name, tat.timestamp()) for name, tat in result.tats.items()]
        )
    return _claim_ids(raw, result.ids, worker_id, now, lease_until), result.holds


def _read_tats(raw: sqlite3.Connection, names: set[str]) -> dict[str, datetime]:
    if not names:
        return {}
    marks = ",".join("?" * len(names))
    rows = raw.execute(
        f"SELECT name, tat FROM tickwork_limiters WHERE name IN ({marks})", list(names)
    )
    return {name: _fromts(tat, UTC) for name, tat in rows}


def _claim_ids(
    raw: sqlite3.Connection, ids: list[int], worker_id: str, now: datetime, lease_until: datetime
) -> list[Job]:
    if not ids:
        return []
    rows = raw.execute(
        CLAIM_IDS_SQL.format(ids=",".join("?" * len(ids))),
        (now.timestamp(), worker_id, lease_until.timestamp(), *ids),
    ).fetchall()
    return [_job(r) for r in rows]


def complete(raw: sqlite3.Connection, completions: Sequence[Completion]) -> list[int]:
    """Write ``completions`` (see ``Store.complete``); returns their run IDs, in order.

    The caller holds the write lock, so the IDs after the current largest are ours to give.
    """
    updates = []
    inserts = []
    first_id = (raw.execute(LAST_RUN_ID_SQL).fetchone()[0] or 0) + 1
    for run_id, c in enumerate(completions, first_id):
        o = c.outcome
        finished = c.finished_at.timestamp()
        started = c.started_at.timestamp()
        updates.append(
            (
                c.next_state.value,
                finished if c.next_state in TERMINAL_STATES else None,
                _ts(c.retry_at),
                o.error_message,
                1 if c.refund_attempt else 0,
                c.job_id,
                c.attempt,
                c.worker_id,
            )
        )
        inserts.append(
            (
                run_id,
                c.job_id,
                c.task_name,
                c.attempt,
                o.status.value,
                c.triggered_by.value,
                started,
                finished,
                max(finished - started, 0.0),
                c.worker_id,
                o.error_type,
                o.error_class.value if o.error_class else None,
                o.error_message,
                o.traceback,
                o.exit_code,
                o.output,
                _dumps(o.result),
                _dumps(o.metrics),
            )
        )
    raw.executemany(COMPLETE_SQL, updates)
    raw.executemany(INSERT_RUN_SQL, inserts)
    succeeded = [(c.job_id,) for c in completions if c.next_state is JobState.SUCCEEDED]
    if succeeded:
        raw.executemany(CANCEL_WATCHDOGS_SQL, succeeded)
    return list(range(first_id, first_id + len(completions)))


ACTIVE_BY_KEY_SQL = """
SELECT id FROM tickwork_jobs
WHERE unique_key = ? AND state IN ('scheduled', 'available', 'retrying', 'running')
"""
RECENT_BY_KEY_SQL = """
SELECT id FROM tickwork_jobs
WHERE unique_key = ? AND finished_at >= ?
ORDER BY finished_at DESC, id DESC
LIMIT 1
"""


def _job_row(job_id: int, j: NewJob, now: datetime, now_ts: float) -> tuple[Any, ...]:
    return (
        job_id,
        j.task_name,
        new_job_state(j, now).value,
        _dumps(list(j.args)),
        _dumps(dict(j.kwargs)),
        j.priority,
        j.key,
        j.unique_key,
        j.scheduled_at.timestamp(),
        j.max_attempts,
        j.triggered_by.value,
        _ts(j.fire_at),
        now_ts,
        now_ts if j.skip_reason else None,
        j.skip_reason,
        j.watch_job_id,
    )


def enqueue(
    raw: sqlite3.Connection,
    jobs: Sequence[NewJob],
    now: datetime,
    *,
    on_conflict_ignore: bool = False,
) -> list[int]:
    # The caller holds the write lock (BEGIN IMMEDIATE), so the next IDs are ours to take;
    # explicit IDs let executemany insert in one call and still return them in order.
    (last,) = raw.execute("SELECT COALESCE(MAX(id), 0) FROM tickwork_jobs").fetchone()
    now_ts = now.timestamp()
    sql = INSERT_JOB_SQL + (" ON CONFLICT DO NOTHING" if on_conflict_ignore else "")
    if any(j.unique_key is not None or j.deadline_job is not None for j in jobs):
        ids, rows = _plan_special(raw, jobs, now, last + 1)
        raw.executemany(sql, rows)
        return ids
    ids = list(range(last + 1, last + 1 + len(jobs)))
    raw.executemany(
        sql, [_job_row(job_id, j, now, now_ts) for job_id, j in zip(ids, jobs, strict=True)]
    )
    return ids


def _plan_special(
    raw: sqlite3.Connection, jobs: Sequence[NewJob], now: datetime, next_id: int
) -> tuple[list[int], list[tuple[Any, ...]]]:
    """IDs (in order) and rows to insert for jobs with unique keys or deadlines.

    Under the write lock nothing else can take a key between our look-up and our insert.
    """
    now_ts = now.timestamp()
    ids: list[int] = []
    rows: list[tuple[Any, ...]] = []
    watchdogs: list[NewJob] = []
    taken: dict[str, int] = {}  # keys given to a job of this call
    for j in jobs:
        key = j.unique_key if j.skip_reason is None else None
        if key is not None:
            existing = taken.get(key)
            if existing is None:
                existing = _existing_for_key(raw, key, j.unique_for_seconds, now)
            if existing is not None:
                ids.append(existing)
                continue
            taken[key] = next_id
        ids.append(next_id)
        rows.append(_job_row(next_id, j, now, now_ts))
        watchdog = j.watchdog(next_id)
        if watchdog is not None:
            watchdogs.append(watchdog)
        next_id += 1
    for w in watchdogs:
        rows.append(_job_row(next_id, w, now, now_ts))
        next_id += 1
    return ids, rows


def _existing_for_key(
    raw: sqlite3.Connection, key: str, unique_for_seconds: float | None, now: datetime
) -> int | None:
    row = raw.execute(ACTIVE_BY_KEY_SQL, (key,)).fetchone()
    if row is None and unique_for_seconds is not None:
        since = (now - timedelta(seconds=unique_for_seconds)).timestamp()
        row = raw.execute(RECENT_BY_KEY_SQL, (key, since)).fetchone()
    return None if row is None else int(row[0])


# sql.active_for_overlap, for this path: ? is the horizon of the fires.
ACTIVE_FOR_OVERLAP = """(j.state IN ('available', 'retrying', 'running')
       OR (j.state = 'scheduled' AND (j.fire_at IS NOT NULL OR j.scheduled_at <= ?)))"""
DUE_SQL = f"""
SELECT name, schedule, timezone, next_fire_at, args, kwargs, priority, max_retries, policies,
    (SELECT count(*) FROM tickwork_jobs AS j INDEXED BY ix_tickwork_jobs_active_task
     WHERE j.task_name = t.name
       AND j.state IN ('scheduled', 'available', 'retrying', 'running')
       AND {ACTIVE_FOR_OVERLAP}) AS active
FROM tickwork_tasks AS t INDEXED BY ix_tickwork_tasks_next_fire
WHERE next_fire_at IS NOT NULL AND next_fire_at <= ? AND enabled = 1 AND removed_at IS NULL
ORDER BY next_fire_at, name
LIMIT ?
"""

CANCEL_PENDING_SQL = f"""
UPDATE tickwork_jobs AS j SET state = 'cancelled', finished_at = ?, last_error = ?
WHERE task_name = ? AND state IN ('scheduled', 'available', 'retrying')
  AND {ACTIVE_FOR_OVERLAP}
"""
REQUEST_CANCEL_SQL = """
UPDATE tickwork_jobs SET cancel_requested_at = ?
WHERE task_name = ? AND state = 'running' AND cancel_requested_at IS NULL
"""
REPLACED = "replaced by a newer fire (overlap=replace)"

ADVANCE_SQL = "UPDATE tickwork_tasks SET next_fire_at = ?, last_fire_at = ? WHERE name = ?"


def fire_due(
    raw: sqlite3.Connection, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
) -> tuple[int, list[int]]:
    # The caller holds the write lock, so nothing can fire these schedules between read and write.
    due = [
        DueSchedule(
            task_name=r[0],
            schedule=r[1],
            timezone=r[2],
            next_fire_at=_fromts(r[3], UTC),
            args=_loads(r[4]),
            kwargs=_loads(r[5]),
            priority=r[6],
            max_attempts=r[7] + 1,
            policies=policies_from_dict(_loads(r[8])),
            active_jobs=r[9],
        )
        for r in raw.execute(DUE_SQL, (horizon.timestamp(), horizon.timestamp(), limit))
    ]
    if not due:
        return 0, []
    fires = [plan(d) for d in due]
    raw.executemany(
        ADVANCE_SQL,
        [(_ts(f.next_fire_at), f.previous_next_fire_at.timestamp(), f.task_name) for f in fires],
    )
    now_ts = now.timestamp()
    for f in fires:
        if f.cancel_active:
            raw.execute(CANCEL_PENDING_SQL, (now_ts, REPLACED, f.task_name, horizon.timestamp()))
            raw.execute(REQUEST_CANCEL_SQL, (now_ts, f.task_name))
    new_jobs = [j for f in fires for j in (f.job, *f.extra_jobs) if j is not None]
    if not new_jobs:
        return len(due), []
    before = raw.total_changes
    ids = enqueue(raw, new_jobs, now, on_conflict_ignore=True)
    if raw.total_changes - before == len(ids):
        return len(due), ids
    # Some fire already had its job (a (task, fire_at) pair is unique): report the real ones.
    placeholders = ",".join("?" * len(ids))
    rows = raw.execute(f"SELECT id FROM tickwork_jobs WHERE id IN ({placeholders})", ids)
    return len(due), sorted(r[0] for r in rows)
