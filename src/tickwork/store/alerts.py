"""Alerts in SQL (Core, both dialects): the facts an evaluator reads about many subjects (one
statement per kind of fact), the rule × subject states written by compare-and-set with their
transitions and delivery jobs, the history, the channels' delivery health.

The states' and transitions' column lists and mappers are here, derived from their tables and
domain types (``TableMap``), like those of ``store.rows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.activity import MissedReason
from tickwork.domain.alert_records import (
    AlertKey,
    AlertWrite,
    ChannelHealth,
    TransitionQuery,
    TransitionRecord,
)
from tickwork.domain.alert_states import AlertState, NoticeKind, Status
from tickwork.domain.alerts import RunFact
from tickwork.domain.jobs import JobState, RunStatus
from tickwork.store.backend import Backend
from tickwork.store.jobs import in_states
from tickwork.store.rows import TableMap, columns, new_job_values
from tickwork.store.runs import newest_runs
from tickwork.store.schema import FAILED_SQL, jobs, missed_fires, runs, tasks
from tickwork.store.schema_alerting import alert_channels, alert_states, alert_transitions

# Names (rules) per statement, and picks per UNION ALL (SQLite allows 500 terms in a compound
# SELECT, and bounds parameters).
_CHUNK = 200
# A batch is looked for among the task's newest jobs only (one enqueue of more counts these).
BATCH_SPAN = 10_000
# Runs that tell whether a task works: skipped, deferred, cancelled, interrupted runs do not.
_TELLING = (RunStatus.SUCCEEDED.value, *FAILED_SQL)
# Missed fires that are a problem (not a policy's or an operator's decision): a `requires`
# that did not hold means the work upstream is missing or late.
_MISSED = (
    MissedReason.MISFIRE.value,
    MissedReason.NO_SCHEDULER.value,
    MissedReason.DEPENDENCY.value,
)
_NOT_STARTED = (JobState.SCHEDULED.value, JobState.AVAILABLE.value)


def _epochs(values: list[float]) -> tuple[datetime, ...]:
    return tuple(datetime.fromtimestamp(v, UTC) for v in values)


def _statuses(values: list[str]) -> tuple[NoticeKind, ...]:
    return tuple(NoticeKind(v) for v in values)


STATES = TableMap(
    alert_states,
    AlertState,
    {"status": Status, "flips": _epochs},
    extra=("rule", "subject"),
)
TRANSITIONS = TableMap(
    alert_transitions,
    TransitionRecord,
    {
        "from_status": Status,
        "to_status": Status,
        "sent": _statuses,
        "channels": tuple,
        "job_ids": tuple,
    },
)
CHANNELS = TableMap(alert_channels, ChannelHealth)


def _chunks(names: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(names))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


# --- facts ---------------------------------------------------------------------------------
# Each read below is one statement whatever the number of tasks: the names go in as one
# parameter (``Backend.each_name``), so a tick's statements do not grow with its rules.
def alert_runs(
    conn: Connection, backend: Backend, limits: Mapping[str, int]
) -> dict[str, list[RunFact]]:
    """``Store.alert_runs``: per task, a walk of ``ix_tickwork_runs_task_started`` that stops
    at its limit (PostgreSQL: a LATERAL pick per name; SQLite: a correlated pick per name);
    tasks of one limit share a pick, the limits' picks are joined by UNION ALL."""
    by_limit: dict[int, list[str]] = {}
    for name, n in limits.items():
        if n > 0:
            by_limit.setdefault(n, []).append(name)
    if not by_limit:
        return {}
    r = runs.c
    wanted = (r.task_name, r.status, r.started_at, r.finished_at, r.duration_seconds, r.id)
    picks = [
        newest_runs(backend, names, n, (*wanted, r.error_message), _TELLING)
        for n, names in sorted(by_limit.items())
    ]
    facts: dict[str, list[RunFact]] = {}
    for start in range(0, len(picks), _CHUNK):
        part = picks[start : start + _CHUNK]
        union: Any = part[0] if len(part) == 1 else sa.union_all(*part)
        found = union.subquery()
        # Ordered in SQL, newest first per task: the start times need not come back.
        f = found.c
        stmt = sa.select(
            f.task_name, f.status, f.finished_at, f.duration_seconds, f.id, f.error_message
        ).order_by(f.task_name, f.started_at.desc(), f.id.desc())
        for name, status, finished_at, seconds, run_id, error in conn.execute(stmt):
            facts.setdefault(name, []).append(
                RunFact(status, finished_at, seconds, str(run_id), error)
            )
    return facts


def _named(backend: Backend, column: Any, names: Sequence[str]) -> Any:
    each = backend.each_name(names)
    return column.in_(sa.select(each.c.value))


def running_since(
    conn: Connection, backend: Backend, task_names: Sequence[str]
) -> dict[str, datetime]:
    """``Store.running_since``."""
    j = jobs.c
    stmt = (
        sa.select(j.task_name, sa.func.min(j.started_at))
        .where(in_states([JobState.RUNNING.value]), _named(backend, j.task_name, task_names))
        .group_by(j.task_name)
    )
    return {name: since for name, since in conn.execute(stmt) if since is not None}


def latest_batches(
    conn: Connection, backend: Backend, task_names: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``Store.latest_batches``: each task's newest job through ``ix_tickwork_jobs_task``, then
    the jobs created at the same time among its newest ``BATCH_SPAN``, counted by state."""
    j = jobs.c
    newest_job = jobs.alias("newest_job")
    newest = (
        sa.select(j.task_name, sa.func.max(j.id).label("id"))
        .where(_named(backend, j.task_name, task_names), j.watch_job_id.is_(None))
        .group_by(j.task_name)
        .subquery()
    )
    batch = (
        sa.select(newest.c.task_name, newest.c.id, newest_job.c.created_at)
        .join(newest_job, newest_job.c.id == newest.c.id)
        .subquery()
    )
    stmt = (
        sa.select(j.task_name, j.state, sa.func.count())
        .join(
            batch,
            sa.and_(
                j.task_name == batch.c.task_name,
                j.id > batch.c.id - BATCH_SPAN,
                j.id <= batch.c.id,
                j.created_at == batch.c.created_at,
            ),
        )
        .where(j.watch_job_id.is_(None))
        .group_by(j.task_name, j.state)
    )
    counts: dict[str, list[int]] = {}
    for name, state, n in conn.execute(stmt):
        pair = counts.setdefault(name, [0, 0])
        if state == JobState.SUCCEEDED.value:
            pair[0] += int(n)
        elif state in FAILED_SQL:
            pair[1] += int(n)
    return {name: (ok, failed) for name, (ok, failed) in counts.items()}


def late_fires(
    conn: Connection, backend: Backend, task_names: Sequence[str], now: datetime
) -> dict[str, tuple[datetime | None, int]]:
    """``Store.late_fires``: fires' jobs not started, overdue schedules, and the missed fires
    after each task's last run (a seek of ``ix_tickwork_runs_task_started`` per missed row's
    task) through ``ix_tickwork_missed_fires_task``."""
    j, t, m, r = jobs.c, tasks.c, missed_fires.c, runs.c
    late: dict[str, datetime] = {}

    def earliest(name: str, at: datetime | None) -> None:
        if at is not None and (name not in late or at < late[name]):
            late[name] = at

    pending = (
        sa.select(j.task_name, sa.func.min(j.scheduled_at))
        .where(
            in_states(_NOT_STARTED),
            j.fire_at.is_not(None),
            j.scheduled_at <= now,
            _named(backend, j.task_name, task_names),
        )
        .group_by(j.task_name)
    )
    overdue = sa.select(t.name, t.next_fire_at).where(
        _named(backend, t.name, task_names),
        t.enabled.is_(True),
        t.removed_at.is_(None),
        t.paused_at.is_(None),
        t.next_fire_at <= now,
    )
    for selection in (pending, overdue):
        for name, at in conn.execute(selection):
            earliest(name, at)
    last_start = (
        sa.select(sa.func.max(r.started_at))
        .where(r.task_name == m.task_name)
        .correlate(missed_fires)
        .scalar_subquery()
    )
    counted = (
        sa.select(m.task_name, sa.func.count())
        .where(
            _named(backend, m.task_name, task_names),
            m.reason.in_(_MISSED),
            sa.or_(last_start.is_(None), m.fire_at > last_start),
        )
        .group_by(m.task_name)
    )
    missed = {name: int(n) for name, n in conn.execute(counted)}
    return {name: (late.get(name), missed.get(name, 0)) for name in {*late, *missed}}


def channel_health(conn: Connection) -> dict[str, ChannelHealth]:
    """``Store.channel_health``."""
    build = CHANNELS.mapper()
    rows = conn.execute(sa.select(*columns(CHANNELS)))
    return {health.channel: health for health in map(build, rows)}


# --- states --------------------------------------------------------------------------------
def states(conn: Connection, rules: Sequence[str] | None) -> dict[AlertKey, AlertState]:
    """``Store.alert_states``."""
    s = alert_states.c
    build = STATES.mapper()
    stmt = sa.select(*columns(STATES), s.rule, s.subject)
    selections = [stmt] if rules is None else [stmt.where(s.rule.in_(c)) for c in _chunks(rules)]
    found: dict[AlertKey, AlertState] = {}
    for selection in selections:
        for row in conn.execute(selection):
            found[AlertKey(row.rule, row.subject)] = build(row)
    return found


def _state_values(state: AlertState, now: datetime) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "changed_at": state.changed_at,
        "why": state.why,
        "announced": state.announced,
        "announced_since": state.announced_since,
        "last_notice_at": state.last_notice_at,
        "flips": [at.timestamp() for at in state.flips],
        "flapping": state.flapping,
        "acked_by": state.acked_by,
        "acked_at": state.acked_at,
        "muted_until": state.muted_until,
        "version": state.version,
        "updated_at": now,
    }


def write(
    conn: Connection, backend: Backend, writes: Sequence[AlertWrite], now: datetime
) -> list[list[int] | None]:
    """``Store.write_alerts``: keys in order (concurrent writers lock rows alike, so they
    never wait on each other in a cycle); a stale write is skipped, the others apply."""
    s = alert_states.c
    results: list[list[int] | None] = [None] * len(writes)
    created = False
    for index in sorted(range(len(writes)), key=lambda i: writes[i].key):
        w = writes[index]
        expected = w.transition.expected_version
        values = _state_values(w.state, now)
        if w.state.version != expected + 1:
            raise ValueError(f"version {w.state.version} does not follow {expected}")
        if expected == 0:
            stmt: Any = (
                backend.insert(alert_states)
                .values(rule=w.key.rule, subject=w.key.subject, **values)
                .on_conflict_do_nothing(index_elements=[s.rule, s.subject])
            )
        else:
            stmt = (
                sa.update(alert_states)
                .where(s.rule == w.key.rule, s.subject == w.key.subject, s.version == expected)
                .values(**values)
            )
        # RETURNING tells whether the row was written (rowcount is not reliable for an
        # INSERT ... ON CONFLICT DO NOTHING on every driver).
        if conn.execute(stmt.returning(s.version)).first() is None:
            continue  # another writer stored this version first: nothing of it goes in
        job_ids = [
            int(
                conn.execute(
                    jobs.insert().returning(jobs.c.id), new_job_values(j, now)
                ).scalar_one()
            )
            for j in w.jobs
        ]
        created = created or bool(job_ids)
        t = w.transition
        conn.execute(
            alert_transitions.insert(),
            {
                "rule": w.key.rule,
                "subject": w.key.subject,
                "at": t.at,
                "from_status": t.from_status.value,
                "to_status": t.to_status.value,
                "why": t.why,
                "sent": [kind.value for kind in t.sent],
                "channels": list(w.channels),
                "job_ids": job_ids,
                "version": t.version,
            },
        )
        results[index] = job_ids
    if created:
        backend.notify(conn)  # wake the workers of other processes: deliveries are due
    return results


def history(conn: Connection, query: TransitionQuery) -> list[TransitionRecord]:
    """``Store.alert_history``."""
    a = alert_transitions.c
    stmt = sa.select(*columns(TRANSITIONS))
    if query.rule is not None:
        stmt = stmt.where(a.rule == query.rule)
    if query.subject is not None:
        stmt = stmt.where(a.subject == query.subject)
    if query.before_id is not None:
        stmt = stmt.where(a.id < query.before_id)
    build = TRANSITIONS.mapper()
    return [build(row) for row in conn.execute(stmt.order_by(a.id.desc()).limit(query.limit))]


def record_delivery(
    conn: Connection, backend: Backend, channel: str, now: datetime, error: str | None
) -> None:
    """``Store.record_delivery``: one upsert; failures in a row add up in SQL, so concurrent
    workers' attempts all count."""
    c = alert_channels.c
    insert = backend.insert(alert_channels)
    if error is None:
        values: dict[str, Any] = {"failures": 0, "last_success_at": now}
        changes: dict[str, Any] = {"failures": 0, "last_success_at": now}
    else:
        values = {"failures": 1, "last_error": error, "last_failure_at": now}
        changes = {"failures": c.failures + 1, "last_error": error, "last_failure_at": now}
    conn.execute(
        insert.values(channel=channel, **values).on_conflict_do_update(
            index_elements=[c.channel], set_=changes
        )
    )
