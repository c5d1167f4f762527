"""Claiming due jobs under the execution policies, and why a job is held: one algorithm for every
dialect, over the statements of each (``ClaimSql``). The dialects differ in locking, not in rules.

The admission itself is pure (``domain.admission``); this reads the snapshot it needs inside the
claim's transaction, page by page in claim order, and applies its decision in the same
transaction, so the limits hold across every worker of the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.admission import (
    GLOBAL,
    Admitter,
    Candidate,
    ClaimRules,
    Hold,
    limiter_names,
    needs_admission,
    task_limiter,
)
from tickwork.domain.backfills import HELD_UNTIL
from tickwork.domain.jobs import Job, JobState
from tickwork.domain.limits import OverlapPolicy, Policies, policies_from_dict
from tickwork.store.schema import PENDING_SQL, jobs, tasks

# Candidates read per page, and in all, when policies hold jobs back. The first page is sized
# by the claim (``first_page``): a small claim reads a small page.
CANDIDATE_PAGE = 200
MAX_CANDIDATES = 5000


def first_page(limit: int) -> int:
    return min(max(limit * 2, 32), CANDIDATE_PAGE)


@dataclass(frozen=True)
class Exclusions:
    """What the running jobs and the task-wide limiter states alone hold back (the admitter
    would hold every such job too): the dialects leave these candidates out in SQL, so a claim
    under binding limits does not page through held jobs."""

    held_tasks: list[str]  # overlap=queue behind a running job, or out of rate
    full_keys: list[str]  # at the process-wide per-key limit ...
    own_limit: list[str]  # ... unless their task has its own key limit:
    pairs: list[tuple[str, str]]  # (task, key) at that task's own key limit


class ClaimSql(Protocol):
    """A dialect's statements for a claim under the policies, inside its transaction."""

    def lock(self) -> None:
        """Serialise the claims that admit (the limits are cluster-wide): taken before any row
        is locked, so that no claimer holds rows while it waits for it."""

    def running(self) -> dict[tuple[str, str | None], int]:
        """Running jobs counted by (task, key)."""
        ...

    def limited(self) -> list[tuple[str, Any]]:
        """The claim-limited tasks and their stored policies (``policies_from_dict`` input, or
        JSON text of it)."""
        ...

    def tats(self, names: set[str]) -> dict[str, datetime]:
        """The stored states of these limiters."""
        ...

    def candidates(
        self,
        horizon: datetime,
        size: int,
        after: tuple[Any, ...] | None,
        exclusions: Exclusions,
    ) -> Sequence[Sequence[Any]]:
        """Up to ``size`` pending jobs due by ``horizon`` in claim order, after the position
        ``after`` (priority, scheduled_at, id as read), as rows of (id, task_name, key,
        policies, priority, scheduled_at); those of ``exclusions`` may be left out."""
        ...

    def save_tats(self, tats: dict[str, datetime]) -> None: ...

    def claim(
        self, ids: list[int], worker_id: str, now: datetime, lease_until: datetime
    ) -> list[Job]:
        """Take these jobs (those still pending) for the worker."""
        ...


class _PolicyCache:
    """Stored policies parsed once per claim (many candidates share a task)."""

    def __init__(self) -> None:
        self._found: dict[str | None, Policies] = {}

    def __call__(self, raw: Any) -> Policies:
        key = raw if isinstance(raw, str) or raw is None else repr(raw)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = policies_from_dict(
                json.loads(raw) if isinstance(raw, str) else raw
            )
        return found


def claim_admitted(
    sql: ClaimSql,
    worker_id: str,
    limit: int,
    now: datetime,
    horizon: datetime,
    lease_until: datetime,
    rules: ClaimRules,
) -> list[Job]:
    """Claim up to ``limit`` due jobs that no policy holds back (see ``Store.claim``)."""
    # Under the lock the snapshot is stable; rows taken meanwhile by a claimer of a
    # one-statement path are skipped by the final claim, which re-checks the state.
    sql.lock()
    policies = _PolicyCache()
    running = sql.running()
    limited = {name: policies(raw) for name, raw in sql.limited()}
    admitter = Admitter(running, {}, rules, now)
    # Task-wide limiters first: a task out of rate is left out like a queued one.
    admitter.add_tats(sql.tats(_task_limiters(limited, rules)))
    exclusions = _exclusions(admitter, limited, rules)
    if exclusions is None:  # the global rate limit admits nothing now
        return []
    size = first_page(limit)
    after: tuple[Any, ...] | None = None
    seen = 0
    while True:
        page = sql.candidates(horizon, size, after, exclusions)
        candidates = [Candidate(r[0], r[1], r[2], policies(r[3])) for r in page]
        if after is None and not needs_admission(candidates, rules):
            # Nothing among them can be held back: the first `limit` as they are.
            ids = [c.id for c in candidates[:limit]]
            return sql.claim(ids, worker_id, now, lease_until) if ids else []
        admitter.add_tats(sql.tats(limiter_names(candidates, rules) - admitter.state.keys()))
        admitter.admit(candidates, limit)
        seen += len(page)
        if len(admitter.result.ids) >= limit or len(page) < size or seen >= MAX_CANDIDATES:
            break
        # What this claim admitted counts too: keys it filled are left out of the next pages,
        # so a claim does not read the rest of the queue to find nothing.
        exclusions = _exclusions(admitter, limited, rules)
        if exclusions is None:
            break
        last = page[-1]
        after = (last[4], last[5], last[0])
        size = CANDIDATE_PAGE
    result = admitter.result
    if result.tats:
        sql.save_tats(result.tats)
    if not result.ids:
        return []
    return sql.claim(result.ids, worker_id, now, lease_until)


def _task_limiters(limited: dict[str, Policies], rules: ClaimRules) -> set[str]:
    names = {task_limiter(t) for t, p in limited.items() if p.rate_limit is not None}
    return names | ({GLOBAL} if rules.rate_limit else set())


def _exclusions(
    admitter: Admitter, limited: dict[str, Policies], rules: ClaimRules
) -> Exclusions | None:
    """What the admitter holds back whatever the job; None when the global rate limit admits
    nothing now."""
    if rules.rate_limit and admitter.check(Candidate(0, "", None, Policies())) is not None:
        return None
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
    return Exclusions(held_tasks, full, list(own), pairs)


def explain(
    conn: Connection, sql: ClaimSql, job_ids: Sequence[int], now: datetime, rules: ClaimRules
) -> dict[int, Hold]:
    """Why each of these pending jobs is not running now, by ID (absent: nothing holds it, it
    is not pending or does not exist), each checked alone against the snapshot a claim would
    read now: one read of the jobs, and one of the running counts and limiters for all."""
    if not job_ids:
        return {}
    rows = conn.execute(
        sa.select(
            jobs.c.id,
            jobs.c.task_name,
            jobs.c.key,
            jobs.c.state,
            jobs.c.scheduled_at,
            tasks.c.policies,
        )
        .select_from(jobs.outerjoin(tasks, tasks.c.name == jobs.c.task_name))
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.state.in_(PENDING_SQL))
    ).all()
    holds: dict[int, Hold] = {}
    due: list[Candidate] = []
    for row in rows:
        if row.scheduled_at >= HELD_UNTIL:
            holds[row.id] = Hold("backfill", "waiting for its turn in its backfill (queue)")
        elif row.scheduled_at > now:
            what = "a retry backoff" if row.state == JobState.RETRYING.value else "its time"
            holds[row.id] = Hold("schedule", f"waiting for {what}", until=row.scheduled_at)
        else:
            due.append(Candidate(row.id, row.task_name, row.key, policies_from_dict(row.policies)))
    if due:
        tats = sql.tats(limiter_names(due, rules))
        admitter = Admitter(sql.running(), tats, rules, now)
        for candidate in due:
            hold = admitter.check(candidate)
            if hold is not None:
                holds[candidate.id] = hold
    return holds
