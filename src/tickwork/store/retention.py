"""Retention in SQL, both dialects: what each prunable thing is (``PRUNABLES``, one entry per
thing, in pruning order), the steps of a pass, bounded batches and their counts, and the lock
that keeps passes apart.

A batch picks at most ``limit`` primary keys through an index (the oldest rows first), then
deletes those rows, in one short transaction; the pruner pauses between batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tickwork.domain.alert_states import Status
from tickwork.domain.retention import PruneTarget, RetentionPolicy, cutoff
from tickwork.store import latest
from tickwork.store.database import Database
from tickwork.store.schema import (
    ACTIVE_SQL,
    audit,
    error_rollups,
    jobs,
    key_rollups,
    missed_fires,
    rollups,
    run_events,
    runs,
    series_rollups,
)
from tickwork.store.schema_alerting import alert_states, alert_transitions, check_hours, check_pings

# pg_try_advisory_lock key of pruning passes ("tw-prune" as an integer); other keys of the
# store (claims, definitions) are different numbers.
PRUNE_LOCK_KEY = 0x74772D7072756E65


@dataclass(frozen=True)
class TaskBound:
    """Runs and finished jobs of one task (or, ``task`` None, of every task but ``others``):
    jobs finished before ``cutoff`` go unless a run of theirs started at or after
    ``runs_before`` (None: any run keeps them); runs started before ``runs_before`` go."""

    task: str | None
    others: tuple[str, ...]
    cutoff: datetime
    runs_before: datetime | None


@dataclass(frozen=True)
class Plan:
    policy: RetentionPolicy
    now: datetime
    bounds: tuple[TaskBound, ...]
    # Each check with pings older than the pings' cutoff, and its oldest ping kept by count.
    pinged: tuple[tuple[str, int | None], ...] = ()


@dataclass(frozen=True)
class Cascade:
    """Rows of another table that go with the rows removed (``column`` refers to their key),
    counted as ``kind``; ``own_step`` says which of them a step of their own already counts
    (a dry run leaves those out)."""

    kind: str
    column: sa.Column[Any]
    own_step: Callable[[PruneTarget], sa.ColumnElement[bool] | None]


@dataclass(frozen=True)
class Prunable:
    """One thing retention removes: ``targets`` are its steps in a pass, ``candidates`` the
    primary keys of one step's rows (through an index), ``guard`` a condition each deleted row
    must still meet, ``cascade`` what goes with them."""

    step: str
    kind: str
    table: sa.Table
    targets: Callable[[Plan], list[PruneTarget]]
    candidates: Callable[[PruneTarget], sa.Select[Any]]
    guard: sa.ColumnElement[bool] | None = None
    cascade: Cascade | None = None


# --- the steps --------------------------------------------------------------------------------
def _aged(
    step: str,
    table: sa.Table,
    column: sa.Column[Any],
    days: str,
    *where: sa.ColumnElement[bool],
) -> Prunable:
    """Rows of ``table`` whose ``column`` is older than the policy's ``days`` field."""

    def targets(plan: Plan) -> list[PruneTarget]:
        before = cutoff(plan.now, getattr(plan.policy, days))
        return [] if before is None else [PruneTarget(step, step, before)]

    def candidates(target: PruneTarget) -> sa.Select[Any]:
        keys = list(table.primary_key.columns)
        return sa.select(*keys).where(column < target.before, *where).order_by(column)

    return Prunable(step, step, table, targets, candidates)


def _task_filter(column: sa.Column[Any], target: PruneTarget) -> sa.ColumnElement[bool]:
    if target.task_name is not None:
        return column == target.task_name
    return column.notin_(target.other_than) if target.other_than else sa.true()


def _job_goes(target: PruneTarget) -> sa.ColumnElement[bool]:
    """The job finished before the cutoff, is not active, and none of its runs is kept."""
    kept = sa.select(runs.c.id).where(runs.c.job_id == jobs.c.id)
    if target.runs_from is not None:
        kept = kept.where(runs.c.started_at >= target.runs_from)
    return sa.and_(
        _task_filter(jobs.c.task_name, target),
        jobs.c.finished_at < target.before,
        jobs.c.state.notin_(ACTIVE_SQL),
        ~kept.exists(),
    )


def _run_targets(plan: Plan) -> list[PruneTarget]:
    return [
        PruneTarget("runs", "runs", b.runs_before, task_name=b.task)
        for b in plan.bounds
        if b.task is not None and b.runs_before is not None
    ]


def _run_candidates(target: PruneTarget) -> sa.Select[Any]:
    active_job = sa.select(jobs.c.id).where(
        jobs.c.id == runs.c.job_id, jobs.c.state.in_(ACTIVE_SQL)
    )
    return (
        sa.select(runs.c.id)
        .where(
            runs.c.task_name == target.task_name,
            runs.c.started_at < target.before,
            ~active_job.exists(),
        )
        .order_by(runs.c.started_at)
    )


def _job_targets(plan: Plan) -> list[PruneTarget]:
    events_before = cutoff(plan.now, plan.policy.events_days)
    return [
        PruneTarget(
            "jobs",
            "jobs",
            b.cutoff,
            task_name=b.task,
            other_than=b.others,
            runs_from=b.runs_before,
            events_before=events_before,
        )
        for b in plan.bounds
    ]


def _job_candidates(target: PruneTarget) -> sa.Select[Any]:
    return sa.select(jobs.c.id).where(_job_goes(target))


def _events_counted_by_age(target: PruneTarget) -> sa.ColumnElement[bool] | None:
    return None if target.events_before is None else run_events.c.at < target.events_before


def _open_incident() -> sa.ColumnElement[bool]:
    """The transition belongs to an incident still firing: its subject's state is firing and
    the transition is not older than the incident (its status change, or what receivers were
    told it started)."""
    st, t = alert_states.c, alert_transitions.c
    return (
        sa.select(st.rule)
        .where(
            st.rule == t.rule,
            st.subject == t.subject,
            st.status == Status.FIRING.value,
            sa.or_(st.changed_at.is_(None), t.at >= st.changed_at, t.at >= st.announced_since),
        )
        .exists()
    )


def _transition_targets(plan: Plan) -> list[PruneTarget]:
    before = cutoff(plan.now, plan.policy.alerts_days)
    return [] if before is None else [PruneTarget("alert_transitions", "alert_transitions", before)]


def _transition_candidates(target: PruneTarget) -> sa.Select[Any]:
    t = alert_transitions.c
    return sa.select(t.id).where(t.at < target.before, ~_open_incident()).order_by(t.at)


def _ping_targets(plan: Plan) -> list[PruneTarget]:
    """One step per check with pings to remove, bounded by its oldest ping kept by count (found
    once per pass, not once per ping looked at: with a backlog that made SQLite's batches a
    hundred times slower). New pings only move that bound up, so it stays right all pass."""
    before = cutoff(plan.now, plan.policy.pings_days)
    if before is None:
        return []
    keep = plan.policy.keep_last_pings
    targets = [
        PruneTarget(
            "check_pings",
            "check_pings",
            before,
            keep_last=keep,
            check_uuid=uuid,
            kept_from_id=kept_from,
        )
        for uuid, kept_from in plan.pinged
        if keep == 0 or kept_from is not None
    ]
    # None to remove: one step that finds nothing, so a pass still reports the kind (0).
    return targets or [PruneTarget("check_pings", "check_pings", before, keep_last=keep)]


def _pinged(
    conn: Connection, policy: RetentionPolicy, now: datetime
) -> list[tuple[str, int | None]]:
    """Each check whose oldest ping is older than the cutoff, with the ID of its oldest ping
    among the newest ``keep_last_pings`` (None: it has no more than those, or none are kept by
    count), through ``ix_tickwork_check_pings_check``."""
    before = cutoff(now, policy.pings_days)
    if before is None:
        return []
    p = check_pings.c
    # Every check with pings (one walk of the index's first column: a pass is rare), so pings
    # whose check row is gone go too.
    owners = sa.select(p.check_uuid.label("uuid")).distinct().subquery()
    oldest = sa.select(p.at).where(p.check_uuid == owners.c.uuid).order_by(p.id).limit(1)
    kept_from: sa.ColumnElement[Any] = sa.null()
    if policy.keep_last_pings > 0:
        kept_from = (
            sa.select(p.id)
            .where(p.check_uuid == owners.c.uuid)
            .order_by(p.id.desc())
            .offset(policy.keep_last_pings - 1)
            .limit(1)
            .scalar_subquery()
        )
    rows = conn.execute(
        sa.select(owners.c.uuid, kept_from)
        .where(oldest.scalar_subquery() < before)
        .order_by(owners.c.uuid)
    )
    return [(uuid, None if kept is None else int(kept)) for uuid, kept in rows]


def _ping_candidates(target: PruneTarget) -> sa.Select[Any]:
    """The check's pings older than the cutoff and below its oldest kept by count, the oldest
    first, along the check's index."""
    p = check_pings.c
    if target.check_uuid is None:
        return sa.select(p.id).where(sa.false())
    stmt = (
        sa.select(p.id)
        .where(p.check_uuid == target.check_uuid, p.at < target.before)
        .order_by(p.check_uuid, p.id)
    )
    if target.kept_from_id is not None:
        stmt = stmt.where(p.id < target.kept_from_id)
    return stmt


# Every prunable thing, in the order a pass removes them: runs before the jobs they keep, the
# events of a job before the job. Adding one is one entry here.
PRUNABLES: tuple[Prunable, ...] = (
    Prunable("runs", "runs", runs, _run_targets, _run_candidates),
    _aged("run_events", run_events, run_events.c.at, "events_days"),
    Prunable(
        "jobs",
        "jobs",
        jobs,
        _job_targets,
        _job_candidates,
        guard=jobs.c.state.notin_(ACTIVE_SQL),
        cascade=Cascade("run_events", run_events.c.job_id, _events_counted_by_age),
    ),
    _aged("audit", audit, audit.c.at, "audit_days"),
    _aged("missed_fires", missed_fires, missed_fires.c.recorded_at, "missed_fires_days"),
    _aged(
        "minute_rollups",
        rollups,
        rollups.c.bucket_start,
        "rollup_minutes_days",
        rollups.c.period_seconds == 60,
    ),
    # Series rows: minute and hour rows as the rollups' own; day rows stay, as theirs do. A
    # day's hour series rows go before its other hour rows: the cache of sums reads a day's
    # hour rows in place of its day rows only while they count all its runs (``rollup_cache``).
    _aged(
        "hour_series_rollups",
        series_rollups,
        series_rollups.c.bucket_start,
        "rollup_hours_days",
        series_rollups.c.period_seconds == 3600,
    ),
    _aged(
        "hour_rollups",
        rollups,
        rollups.c.bucket_start,
        "rollup_hours_days",
        rollups.c.period_seconds == 3600,
    ),
    _aged(
        "minute_series_rollups",
        series_rollups,
        series_rollups.c.bucket_start,
        "rollup_minutes_days",
        series_rollups.c.period_seconds == 60,
    ),
    # Per-key and error hour rows go after ``rollup_hours_days``; their day rows stay.
    _aged(
        "key_rollups",
        key_rollups,
        key_rollups.c.bucket_start,
        "rollup_hours_days",
        key_rollups.c.period_seconds == 3600,
    ),
    _aged(
        "error_rollups",
        error_rollups,
        error_rollups.c.bucket_start,
        "rollup_hours_days",
        error_rollups.c.period_seconds == 3600,
    ),
    # The guard checks again at delete time: a subject that began firing since the pick keeps
    # the transitions of its new incident.
    Prunable(
        "alert_transitions",
        "alert_transitions",
        alert_transitions,
        _transition_targets,
        _transition_candidates,
        guard=~_open_incident(),
    ),
    Prunable("check_pings", "check_pings", check_pings, _ping_targets, _ping_candidates),
    # The hours replayed from pings go when pings of their age do.
    _aged("check_hours", check_hours, check_hours.c.hour, "pings_days"),
)
_BY_STEP = {p.step: p for p in PRUNABLES}


# --- store functions (on a store thread, in the caller's transaction) -----------------------
def targets(conn: Connection, policy: RetentionPolicy, now: datetime) -> list[PruneTarget]:
    """``Store.prune_targets``."""
    plan = Plan(
        policy, now, tuple(_task_bounds(conn, policy, now)), tuple(_pinged(conn, policy, now))
    )
    return [t for p in PRUNABLES for t in p.targets(plan)]


def _task_bounds(conn: Connection, policy: RetentionPolicy, now: datetime) -> list[TaskBound]:
    """Per task with runs or its own policy, then one bound for every other task's jobs."""
    names = sorted({*conn.execute(sa.select(runs.c.task_name).distinct()).scalars(), *policy.tasks})
    bounds: list[TaskBound] = []
    for name in names:
        days, keep = policy.for_task(name)
        before = cutoff(now, days)
        if before is None:
            continue
        runs_before: datetime | None = before
        if keep > 0:
            newest = conn.execute(
                sa.select(runs.c.started_at)
                .where(runs.c.task_name == name)
                .order_by(runs.c.started_at.desc())
                .offset(keep - 1)
                .limit(1)
            ).scalar()
            # Fewer runs than kept: every one stays (and so do its jobs).
            runs_before = None if newest is None else min(before, newest)
        bounds.append(TaskBound(name, (), before, runs_before))
    rest = cutoff(now, policy.runs_days)
    if rest is not None:
        bounds.append(TaskBound(None, tuple(names), rest, None))
    return bounds


def prune_batch(conn: Connection, target: PruneTarget, limit: int) -> dict[str, int]:
    """``Store.prune_batch``: at most ``limit`` keys picked, then those rows deleted (and the
    rows that go with them)."""
    prunable = _BY_STEP[target.step]
    removed = {target.kind: 0}
    picked = conn.execute(prunable.candidates(target).limit(limit)).all()
    if not picked:
        return removed
    keys = list(prunable.table.primary_key.columns)
    chosen = (
        keys[0].in_([row[0] for row in picked])
        if len(keys) == 1
        else sa.tuple_(*keys).in_([tuple(row) for row in picked])
    )
    if prunable.cascade is not None:
        # Only the picked rows that will really go (the guard) take their dependents along.
        going = [row[0] for row in picked]
        if prunable.guard is not None:
            going = list(conn.execute(sa.select(keys[0]).where(chosen, prunable.guard)).scalars())
        cascade = prunable.cascade
        gone = conn.execute(sa.delete(cascade.column.table).where(cascade.column.in_(going)))
        removed[cascade.kind] = int(gone.rowcount)
    statement = sa.delete(prunable.table).where(chosen)
    if prunable.guard is not None:
        statement = statement.where(prunable.guard)
    removed[target.kind] = int(conn.execute(statement).rowcount)
    if prunable.table is runs:
        # A task whose latest run went has an older one (or none) as its latest now.
        latest.forget(conn, [row[0] for row in picked])
    return removed


def count(conn: Connection, target: PruneTarget) -> dict[str, int]:
    """``Store.count_prunable``."""
    prunable = _BY_STEP[target.step]
    candidates = prunable.candidates(target).order_by(None)
    query = candidates.subquery()
    counts = {
        target.kind: int(conn.execute(sa.select(sa.func.count()).select_from(query)).scalar_one())
    }
    cascade = prunable.cascade
    if cascade is not None:
        dependents = (
            sa.select(sa.func.count())
            .select_from(cascade.column.table)
            .where(cascade.column.in_(candidates))
        )
        counted = cascade.own_step(target)
        if counted is not None:
            dependents = dependents.where(~counted)
        counts[cascade.kind] = int(conn.execute(dependents).scalar_one())
    return counts


# --- one pass at a time ---------------------------------------------------------------------
class PassLock:
    """``Store.lock_pruning``'s lock: a process-wide flag, and on PostgreSQL a session advisory
    lock held on a connection of its own for the whole pass (the server frees it if the
    process dies)."""

    def __init__(
        self, db: Database, local: threading.Lock, conn: Connection | None, key: int
    ) -> None:
        self._db = db
        self._key = key
        self._local = local
        self._conn = conn
        self._held = True

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            if self._conn is not None:
                await self._db.call(_unlock, self._conn, self._key)
        finally:
            self._local.release()


_local_locks: dict[tuple[int, int], threading.Lock] = {}
_local_guard = threading.Lock()


async def lock(db: Database, key: int = PRUNE_LOCK_KEY) -> PassLock | None:
    """``Store.lock_pruning``: one pass per database in this process, and one across processes
    on PostgreSQL (``pg_try_advisory_lock``: who does not get it skips the pass). Other passes
    that run once for the cluster (auto-rescheduling) take it with their own ``key``."""
    with _local_guard:
        local = _local_locks.setdefault((id(db.engine), key), threading.Lock())
    if not local.acquire(blocking=False):
        return None
    conn: Connection | None = None
    try:
        if db.engine.dialect.name == "postgresql":
            conn = await db.call(_try_lock, db.engine, key)
            if conn is None:
                local.release()
                return None
    except BaseException:
        local.release()
        raise
    return PassLock(db, local, conn, key)


def _try_lock(engine: Engine, key: int) -> Connection | None:
    """A connection holding the advisory lock, or None when another session holds it."""
    conn = engine.connect()
    try:
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        held = bool(got.scalar())
        conn.commit()  # the lock is the session's: no transaction stays open meanwhile
    except BaseException:
        conn.close()
        raise
    if not held:
        conn.close()
        return None
    return conn


def _unlock(conn: Connection, key: int) -> None:
    try:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        conn.commit()
    finally:
        conn.close()
