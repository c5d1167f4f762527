"""Claiming due jobs under the execution policies, with SQLAlchemy Core (the PostgreSQL path).

The SQLite store has the same algorithm on the raw driver in ``sqlite_fast.claim``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from tickwork.domain.admission import (
    Admitter,
    Candidate,
    ClaimRules,
    Hold,
    limiter_names,
)
from tickwork.domain.jobs import Job, JobState
from tickwork.domain.limits import Policies, policies_from_dict
from tickwork.store import rows
from tickwork.store.sql import PENDING_SQL, jobs, limiters, tasks

ORDER = (jobs.c.priority.desc(), jobs.c.scheduled_at, jobs.c.id)
_ANY_LIMITED = sa.select(sa.literal(1)).where(sa.text("claim_limited")).select_from(tasks).limit(1)
CANDIDATE_PAGE = 200
MAX_CANDIDATES = 5000
# Claims that apply policies take this transaction-level advisory lock, so that two workers never
# admit against the same snapshot of running jobs (the limits are cluster-wide).
CLAIM_LOCK_KEY = 0x7469636B  # "tick"


def _candidate_query(horizon: datetime, after: tuple[Any, ...] | None = None) -> Any:
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.task_name,
            jobs.c.key,
            tasks.c.policies,
            jobs.c.priority,
            jobs.c.scheduled_at,
        )
        .select_from(jobs.outerjoin(tasks, tasks.c.name == jobs.c.task_name))
        .where(jobs.c.state.in_(PENDING_SQL), jobs.c.scheduled_at <= horizon)
        .order_by(*ORDER)
    )
    if after is not None:  # keyset: the rows after (priority, scheduled_at, id) in claim order
        p, at, i = after
        query = query.where(
            sa.or_(
                jobs.c.priority < p,
                sa.and_(
                    jobs.c.priority == p,
                    sa.or_(
                        jobs.c.scheduled_at > at, sa.and_(jobs.c.scheduled_at == at, jobs.c.id > i)
                    ),
                ),
            )
        )
    return query


def _candidates(result: Any) -> list[Candidate]:
    cache: dict[str, Policies] = {}
    out = []
    for r in result:
        key = repr(r.policies)
        policies = cache.get(key)
        if policies is None:
            policies = cache[key] = policies_from_dict(r.policies)
        out.append(Candidate(r.id, r.task_name, r.key, policies))
    return out


def claim(
    conn: Connection,
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> tuple[list[Job], dict[int, Hold]]:
    if rules.empty and conn.execute(_ANY_LIMITED).first() is None:
        # Nothing can hold a job back: one statement claims the first `limit` due jobs.
        due = (
            sa.select(jobs.c.id)
            .where(jobs.c.state.in_(PENDING_SQL), jobs.c.scheduled_at <= horizon)
            .order_by(*ORDER)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return _claim_ids(conn, due.scalar_subquery(), worker_id, now, lease_until), {}
    # Some limit may apply: admit under the lock. It is taken before any row is locked (a
    # claimer holding rows while it waits for the lock would deadlock with the lock's holder).
    # Under it the snapshot is stable; rows taken meanwhile by a claimer of the one-statement
    # path are skipped by the final UPDATE, which re-checks the state.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
    # Pages in claim order until enough are admitted: a busy key near the head of the queue
    # must not make every claim read the whole backlog.
    admitter = Admitter(_running(conn), {}, rules, now)
    after: tuple[Any, ...] | None = None
    seen = 0
    while True:
        page = conn.execute(_candidate_query(horizon, after).limit(CANDIDATE_PAGE)).all()
        candidates = _candidates(page)
        admitter.add_tats(_tats(conn, limiter_names(candidates, rules) - admitter.state.keys()))
        admitter.admit(candidates, limit)
        seen += len(page)
        if len(admitter.result.ids) >= limit or len(page) < CANDIDATE_PAGE:
            break
        if seen >= MAX_CANDIDATES:
            break
        last = page[-1]
        after = (last.priority, last.scheduled_at, last.id)
    result = admitter.result
    for name, tat in result.tats.items():
        stmt = pg_insert(limiters).values(name=name, tat=tat)
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"tat": tat}))
    return _claim_ids(conn, result.ids, worker_id, now, lease_until), result.holds


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


def _claim_ids(
    conn: Connection, ids: Any, worker_id: str, now: datetime, lease_until: datetime
) -> list[Job]:
    if isinstance(ids, list) and not ids:
        return []
    stmt = (
        jobs.update()
        .where(jobs.c.id.in_(ids), jobs.c.state.in_(PENDING_SQL))
        .values(
            state=JobState.RUNNING.value,
            attempt=jobs.c.attempt + 1,
            started_at=now,
            worker_id=worker_id,
            lease_expires_at=lease_until,
        )
        .returning(*jobs.c)
    )
    result: Any = conn.execute(stmt).mappings()
    return [rows.job_from_row(r) for r in result]
