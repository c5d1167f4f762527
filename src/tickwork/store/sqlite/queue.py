"""The SQLite hot paths on the raw sqlite3 connection: enqueue, claim, complete, fire.

These run once per job (or per batch of jobs); going through SQLAlchemy's parameter processing
cost more than the SQL itself (~180 µs per job, see docs/benchmarks.md). Values are encoded
and decoded as the column types do it (``CODEC``: epoch seconds for times, JSON text), so these
statements and the Core queries read each other's rows. Every function runs inside the caller's
write transaction (``BEGIN IMMEDIATE``): under the write lock nothing else changes the jobs
between a read and a write, so the store can pick the next IDs itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.admission import ClaimRules
from tickwork.domain.dependencies import UpstreamOn
from tickwork.domain.jobs import Completion, Job, JobState, NewJob
from tickwork.domain.queries import DueSchedule, Fire, FirePlanner
from tickwork.store import claiming, enqueueing, firing, latest
from tickwork.store.activity import INSERT_MISSED_SQL, missed_params
from tickwork.store.claiming import Exclusions
from tickwork.store.dependencies import requirement_params, requirement_sql
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
    DUE_COLUMNS,
    JOBS,
    NEW_JOB_COLUMNS,
    PAUSE_COLUMNS,
    RUN_INSERT_COLUMNS,
    Codec,
    completion_run_row,
    completion_update,
    due_schedule,
    new_job_row,
)
from tickwork.store.schema import (
    ACTIVE_FOR_OVERLAP,
    error_rollups,
    key_rollups,
    rollups,
    series_rollups,
)

_fromts = datetime.fromtimestamp


def _time(value: float) -> datetime:
    return _fromts(value, UTC)


def _epoch(value: datetime) -> float:
    return value.timestamp()


CODEC = Codec(time=_time, json=json.loads, encode_time=_epoch, encode_json=json.dumps)
job_from_tuple = JOBS.mapper(CODEC)

# --- enqueue ---------------------------------------------------------------------------------
INSERT_JOB_SQL = f"""
INSERT INTO tickwork_jobs ({", ".join(NEW_JOB_COLUMNS)}, attempt, created_at, id)
VALUES ({", ".join("?" * len(NEW_JOB_COLUMNS))}, 0, ?, ?)
"""
LAST_JOB_ID_SQL = "SELECT COALESCE(MAX(id), 0) FROM tickwork_jobs"


def enqueue(
    raw: sqlite3.Connection, new_jobs: Sequence[NewJob], now: datetime, *, once: bool = False
) -> list[int]:
    """``Store.enqueue``; ``once``: a job whose (task, fire_at) pair exists is not inserted
    (its ID is still returned: see ``FireStatements.insert_once``)."""
    # Explicit IDs let executemany insert in one call and still return them in order.
    (last,) = raw.execute(LAST_JOB_ID_SQL).fetchone()
    next_id = last + 1
    created = _epoch(now)
    rows: list[tuple[Any, ...]] = []

    def insert(batch: list[NewJob]) -> list[int]:
        nonlocal next_id
        ids = list(range(next_id, next_id + len(batch)))
        rows.extend(
            (*new_job_row(j, now, CODEC), created, i) for j, i in zip(batch, ids, strict=True)
        )
        next_id += len(batch)
        return ids

    def insert_keyed(j: NewJob) -> int:
        return insert([j])[0]

    if enqueueing.plain(new_jobs):
        ids = insert(list(new_jobs))
    else:
        ids, _ = enqueueing.enqueue_with_rules(
            new_jobs,
            now,
            first_id=lambda sql, params: _first_id(raw, sql, params),
            insert=insert,
            insert_keyed=insert_keyed,
        )
    raw.executemany(INSERT_JOB_SQL + (" ON CONFLICT DO NOTHING" if once else ""), rows)
    return ids


def _first_id(raw: sqlite3.Connection, sql: str, params: dict[str, Any]) -> int | None:
    encoded = {k: _epoch(v) if isinstance(v, datetime) else v for k, v in params.items()}
    row = raw.execute(sql, encoded).fetchone()
    return None if row is None else int(row[0])


# --- claim -----------------------------------------------------------------------------------
ANY_LIMITED_SQL = (
    "SELECT 1 FROM tickwork_tasks INDEXED BY ix_tickwork_tasks_claim_limited"
    " WHERE claim_limited LIMIT 1"
)
# While no task is claim-limited (and no process-wide limit is set), one statement claims the
# first `limit` due jobs.
CLAIM_FIRST_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?, lease_expires_at = ?
WHERE id IN (
    SELECT id FROM tickwork_jobs INDEXED BY ix_tickwork_jobs_pending
    WHERE state IN ('scheduled', 'available', 'retrying') AND scheduled_at <= ?
    ORDER BY priority DESC, scheduled_at, id
    LIMIT ?
)
RETURNING {JOBS.select_list}
"""
CLAIM_IDS_SQL = f"""
UPDATE tickwork_jobs
SET state = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?, lease_expires_at = ?
WHERE id IN ({{ids}})
RETURNING {JOBS.select_list}
"""
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
# The exclusions go in as bound lists; past this many values a page is read unfiltered (the
# admitter holds those jobs back all the same), well below SQLite's limit of bound parameters.
MAX_EXCLUDED = 500


def _excluded(ex: Exclusions) -> tuple[str, list[Any]]:
    """The SQL pre-filter of ``claiming.Exclusions`` (``postgres.queue.CANDIDATES_SQL``'s, with
    lists of placeholders) and its parameters."""
    size = len(ex.held_tasks) + len(ex.full_keys) + len(ex.own_limit) + 2 * len(ex.pairs)
    if size == 0 or size > MAX_EXCLUDED:
        return "", []
    where: list[str] = []
    params: list[Any] = []
    if ex.held_tasks:
        where.append(f" AND j.task_name NOT IN ({_marks(len(ex.held_tasks))})")
        params += ex.held_tasks
    held_keys: list[str] = []
    if ex.full_keys:
        full = f"j.key IN ({_marks(len(ex.full_keys))})"
        params += ex.full_keys
        if ex.own_limit:
            full += f" AND j.task_name NOT IN ({_marks(len(ex.own_limit))})"
            params += ex.own_limit
        held_keys.append(f"({full})")
    if ex.pairs:
        held_keys.append(
            f"(j.task_name, j.key) IN (VALUES {', '.join(['(?, ?)'] * len(ex.pairs))})"
        )
        params += [v for pair in ex.pairs for v in pair]
    if held_keys:
        where.append(f" AND (j.key IS NULL OR NOT ({' OR '.join(held_keys)}))")
    return "".join(where), params


def _marks(n: int) -> str:
    return ",".join("?" * n)


RUNNING_SQL = """
SELECT task_name, key, count(*) FROM tickwork_jobs INDEXED BY ix_tickwork_jobs_running
WHERE state = 'running' GROUP BY task_name, key
"""
LIMITED_SQL = (
    "SELECT name, policies FROM tickwork_tasks INDEXED BY ix_tickwork_tasks_claim_limited"
    " WHERE claim_limited"
)
UPSERT_LIMITER_SQL = """
INSERT INTO tickwork_limiters (name, tat) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET tat = excluded.tat
"""


def claim(
    raw: sqlite3.Connection,
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> list[Job]:
    """``Store.claim``: one statement while nothing can hold a job back, else under the
    policies (``claiming.claim_admitted``)."""
    if rules.empty and raw.execute(ANY_LIMITED_SQL).fetchone() is None:
        rows = raw.execute(
            CLAIM_FIRST_SQL,
            (_epoch(now), worker_id, _epoch(lease_until), _epoch(horizon), limit),
        ).fetchall()
        return [job_from_tuple(r) for r in rows]
    return claiming.claim_admitted(
        ClaimStatements(raw), worker_id, limit, now, horizon, lease_until, rules
    )


class ClaimStatements:
    """``claiming.ClaimSql`` on SQLite: the caller's write lock serialises claims; the
    candidates' SQL leaves out what the snapshot alone holds back, as on PostgreSQL."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def lock(self) -> None:
        return None  # the write lock is held from BEGIN IMMEDIATE on

    def running(self) -> dict[tuple[str, str | None], int]:
        return {(t, k): n for t, k, n in self._raw.execute(RUNNING_SQL)}

    def limited(self) -> list[tuple[str, Any]]:
        return self._raw.execute(LIMITED_SQL).fetchall()

    def tats(self, names: set[str]) -> dict[str, datetime]:
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        rows = self._raw.execute(
            f"SELECT name, tat FROM tickwork_limiters WHERE name IN ({marks})", list(names)
        )
        return {name: _time(tat) for name, tat in rows}

    def candidates(
        self,
        horizon: datetime,
        size: int,
        after: tuple[Any, ...] | None,
        exclusions: Exclusions,
    ) -> list[Any]:
        where, params = _excluded(exclusions)
        where = _PENDING_WHERE + where
        if after is not None:
            p, at, i = after
            where += _AFTER
            params += [p, p, at, at, i]
        sql = CANDIDATES_SQL.format(where=where)
        return self._raw.execute(sql, (_epoch(horizon), *params, size)).fetchall()

    def save_tats(self, tats: dict[str, datetime]) -> None:
        self._raw.executemany(
            UPSERT_LIMITER_SQL, [(name, _epoch(tat)) for name, tat in tats.items()]
        )

    def claim(
        self, ids: list[int], worker_id: str, now: datetime, lease_until: datetime
    ) -> list[Job]:
        rows = self._raw.execute(
            CLAIM_IDS_SQL.format(ids=",".join("?" * len(ids))),
            (_epoch(now), worker_id, _epoch(lease_until), *ids),
        ).fetchall()
        return [job_from_tuple(r) for r in rows]


# --- complete --------------------------------------------------------------------------------
COMPLETE_SQL = """
UPDATE tickwork_jobs
SET state = ?, finished_at = ?, scheduled_at = COALESCE(?, scheduled_at),
    lease_expires_at = NULL, last_error = ?, attempt = attempt - ?
WHERE id = ? AND state = 'running' AND attempt = ? AND worker_id IS ?
"""
assert COMPLETION_UPDATE == ("state", "finished_at", "retry_at", "last_error", "refund")
# A job that succeeded (this write applied: its state says so) cancels its pending watchdogs.
CANCEL_WATCHDOGS_SQL = """
UPDATE tickwork_jobs AS d
SET state = 'cancelled', finished_at = w.finished_at,
    last_error = 'watched job ' || w.id || ' succeeded in time'
FROM tickwork_jobs AS w
WHERE w.id = ? AND w.state = 'succeeded' AND d.watch_job_id = w.id
  AND d.state IN ('scheduled', 'available', 'retrying')
"""
INSERT_RUN_SQL = f"""
INSERT INTO tickwork_runs (id, {", ".join(RUN_INSERT_COLUMNS)})
VALUES (?, {", ".join("?" * len(RUN_INSERT_COLUMNS))})
"""
LAST_RUN_ID_SQL = "SELECT max(id) FROM tickwork_runs"
# Where a run row of ``INSERT_RUN_SQL`` (ID first) holds what its task's latest entry takes.
_TASK, _STARTED, _STATUS = (
    1 + RUN_INSERT_COLUMNS.index(name) for name in ("task_name", "started_at", "status")
)
# The rollups of the batch (``store/rollups.py``), one upsert per table.
UPSERT_ROLLUPS_SQL, UPSERT_KEY_ROLLUPS_SQL, UPSERT_ERROR_ROLLUPS_SQL, UPSERT_SERIES_SQL = (
    f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    f" {on_conflict_sql(table)}"
    for table, names in (
        (rollups, ROLLUP_COLUMNS),
        (key_rollups, KEY_ROLLUP_COLUMNS),
        (error_rollups, ERROR_ROLLUP_COLUMNS),
        (series_rollups, SERIES_ROLLUP_COLUMNS),
    )
)


def complete(raw: sqlite3.Connection, completions: Sequence[Completion]) -> list[int]:
    """``Store.complete``; the run IDs after the current largest are ours to give."""
    first_id = (raw.execute(LAST_RUN_ID_SQL).fetchone()[0] or 0) + 1
    ids = range(first_id, first_id + len(completions))
    raw.executemany(
        COMPLETE_SQL,
        [(*completion_update(c, CODEC), c.job_id, c.attempt, c.worker_id) for c in completions],
    )
    rows = [(i, *completion_run_row(c, CODEC)) for i, c in zip(ids, completions, strict=True)]
    raw.executemany(INSERT_RUN_SQL, rows)
    raw.executemany(
        latest.UPSERT_QMARK_SQL,
        latest.newest_per_task((r[_TASK], r[0], r[_STARTED], r[_STATUS]) for r in rows),
    )
    succeeded = [(c.job_id,) for c in completions if c.next_state is JobState.SUCCEEDED]
    if succeeded:
        raw.executemany(CANCEL_WATCHDOGS_SQL, succeeded)
    added = rollup_rows((finished_of_completion(c) for c in completions), CODEC)
    raw.executemany(UPSERT_ROLLUPS_SQL, added.rollups)
    raw.executemany(UPSERT_SERIES_SQL, added.series)
    if added.keys:
        raw.executemany(UPSERT_KEY_ROLLUPS_SQL, added.keys)
    if added.errors:
        raw.executemany(UPSERT_ERROR_ROLLUPS_SQL, added.errors)
    return list(ids)


# --- fire ------------------------------------------------------------------------------------
DUE_SQL = f"""
SELECT {", ".join(DUE_COLUMNS)},
    (SELECT count(*) FROM tickwork_jobs AS j INDEXED BY ix_tickwork_jobs_active_task
     WHERE j.task_name = t.name
       AND j.state IN ('scheduled', 'available', 'retrying', 'running')
       AND {ACTIVE_FOR_OVERLAP}) AS active
FROM tickwork_tasks AS t INDEXED BY ix_tickwork_tasks_next_fire
WHERE next_fire_at IS NOT NULL AND next_fire_at <= :horizon AND enabled = 1
  AND removed_at IS NULL AND (paused_at IS NULL OR pause_until <= :horizon)
ORDER BY next_fire_at, name
LIMIT :limit
"""
# A due task is not paused, or its pause is over (``tasks.unpaused``): cleared as it fires.
_CLEAR_PAUSE = ", ".join(f"{c} = NULL" for c in PAUSE_COLUMNS)
ADVANCE_SQL = f"""
UPDATE tickwork_tasks SET next_fire_at = ?, last_fire_at = ?, {_CLEAR_PAUSE} WHERE name = ?
"""
CANCEL_PENDING_SQL = f"""
UPDATE tickwork_jobs AS j SET state = 'cancelled', finished_at = :now, last_error = :reason
WHERE task_name = :task AND state IN ('scheduled', 'available', 'retrying')
  AND {ACTIVE_FOR_OVERLAP}
"""
REQUEST_CANCEL_SQL = """
UPDATE tickwork_jobs SET cancel_requested_at = ?
WHERE task_name = ? AND state = 'running' AND cancel_requested_at IS NULL
"""


class FireStatements:
    """``firing.FireSql`` on SQLite: the caller's write lock keeps other schedulers out."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def due(self, horizon: datetime, limit: int) -> list[DueSchedule]:
        rows = self._raw.execute(DUE_SQL, {"horizon": _epoch(horizon), "limit": limit})
        return [due_schedule(r, CODEC) for r in rows]

    def advance(self, fires: Sequence[Fire]) -> None:
        self._raw.executemany(
            ADVANCE_SQL,
            [
                (
                    None if f.next_fire_at is None else _epoch(f.next_fire_at),
                    _epoch(f.previous_next_fire_at),
                    f.task_name,
                )
                for f in fires
            ],
        )

    def replace_active(self, task_name: str, now: datetime, horizon: datetime, reason: str) -> None:
        params = {"now": _epoch(now), "reason": reason, "task": task_name}
        self._raw.execute(CANCEL_PENDING_SQL, {**params, "horizon": _epoch(horizon)})
        self._raw.execute(REQUEST_CANCEL_SQL, (_epoch(now), task_name))

    def insert_once(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        before = self._raw.total_changes
        ids = enqueue(self._raw, new_jobs, now, once=True)
        if self._raw.total_changes - before == len(ids):
            return ids
        # Some fire already had its job (a (task, fire_at) pair is unique): the real ones.
        marks = ",".join("?" * len(ids))
        rows = self._raw.execute(f"SELECT id FROM tickwork_jobs WHERE id IN ({marks})", ids)
        return sorted(r[0] for r in rows)

    def record_missed(self, missed: Sequence[NewMissedFire], now: datetime) -> None:
        self._raw.executemany(INSERT_MISSED_SQL, [missed_params(m, now, CODEC) for m in missed])

    def notify(self) -> None:
        return None  # the commit watcher of every process sees the commit

    def requirement_met(self, task_name: str, on: UpstreamOn, since: datetime) -> bool:
        params = requirement_params(task_name, since)
        params = {**params, "since": _epoch(params["since"]), "floor": _epoch(params["floor"])}
        return self._raw.execute(requirement_sql(on), params).fetchone() is not None


def fire_due(
    raw: sqlite3.Connection, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
) -> tuple[int, list[int]]:
    return firing.fire_due(FireStatements(raw), now, horizon, limit, plan)
