"""Job dependencies in SQL, both dialects: releasing downstream jobs from the final runs of their
upstreams after a durable cursor (``release``), and whether a fire's requirement holds
(``REQUIREMENT_SQL``, run by each dialect's fire statements).

A run is *final* when its job ended with it: the job's state is the run's status and the run
is the job's last attempt (a failed attempt that is retried is not a failure of the job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.dependencies import DependencyGraph, Edge, ReleasePass, UpstreamOn
from tickwork.domain.jobs import NewJob
from tickwork.store.backend import Backend
from tickwork.store.rows import new_job_values
from tickwork.store.schema import dependency_cursor, jobs, runs

CURSOR_NAME = "release"
# pg_try_advisory_xact_lock key of release passes ("tw-deps" as an integer): one pass at a time
# across the cluster; who does not get it skips its pass.
RELEASE_LOCK_KEY = 0x74772D64657073
# A requirement's run must have started at most this long before its window (the runs' index
# is by start time: the walk stays bounded when the requirement is not met).
REQUIREMENT_LOOKBACK = timedelta(days=1)

_FINAL = "j.state = r.status AND j.attempt = r.attempt"


def _statuses(on: UpstreamOn) -> str:
    # Fixed enum values, never user input: written into the text.
    return ", ".join(f"'{s}'" for s in on.statuses)


def requirement_sql(on: UpstreamOn) -> str:
    """One row when ``:task`` has a final run ``on`` counts that finished at or after
    ``:since`` (and started after ``:floor``). ``:name`` parameters: both drivers take them."""
    return f"""
SELECT 1 FROM tickwork_runs AS r JOIN tickwork_jobs AS j ON j.id = r.job_id
WHERE r.task_name = :task AND r.started_at >= :floor AND r.finished_at >= :since
  AND r.status IN ({_statuses(on)}) AND {_FINAL}
LIMIT 1
"""


_FINAL_RUNS = sa.text(f"""
SELECT r.id, r.task_name, r.status FROM tickwork_runs AS r
JOIN tickwork_jobs AS j ON j.id = r.job_id
WHERE r.id > :cursor AND r.id <= :top AND r.task_name IN :names
  AND r.status IN ({_statuses(UpstreamOn.FINISHED)}) AND {_FINAL}
ORDER BY r.id
LIMIT :limit
""").bindparams(sa.bindparam("names", expanding=True))

_LAST_RELEASE = sa.text(
    "SELECT MAX(released_by_run_id) FROM tickwork_jobs"
    " WHERE task_name = :task AND released_by_run_id IS NOT NULL"
)


def _qualifying_sql(on: UpstreamOn) -> sa.TextClause:
    return sa.text(f"""
SELECT 1 FROM tickwork_runs AS r JOIN tickwork_jobs AS j ON j.id = r.job_id
WHERE r.task_name = :task AND r.id > :after AND r.id <= :top
  AND r.status IN ({_statuses(on)}) AND {_FINAL}
LIMIT 1
""")


_QUALIFYING = {on: _qualifying_sql(on) for on in UpstreamOn}


def release(
    conn: Connection,
    backend: Backend,
    graph: DependencyGraph,
    templates: Mapping[str, NewJob],
    now: datetime,
    *,
    settled: int | None,
    skip: frozenset[int],
    limit: int,
) -> ReleasePass | None:
    """``Store.release_dependents`` inside the caller's write transaction; None when another
    process holds the pass (PostgreSQL)."""
    if backend.lock_rows:  # PostgreSQL: other processes may be in a pass
        got = conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELEASE_LOCK_KEY}
        ).scalar()
        if not got:
            return None
    top = int(conn.execute(sa.select(sa.func.max(runs.c.id))).scalar() or 0)
    cursor_row = conn.execute(
        sa.select(dependency_cursor.c.run_id).where(dependency_cursor.c.name == CURSOR_NAME)
    ).scalar()
    if cursor_row is None:
        # The first pass: runs before it release nothing (no history replayed).
        conn.execute(
            dependency_cursor.insert().values(name=CURSOR_NAME, run_id=top, updated_at=now)
        )
        return ReleasePass((), (), top, top)
    cursor = int(cursor_row)
    names = [
        n for n in graph.upstreams if any(e.downstream in templates for e in graph.downstream_of(n))
    ]
    rows: list[Any] = []
    if names and top > cursor:
        # The runs in ``skip`` come again (they are above the cursor): read past them.
        params = {"cursor": cursor, "top": top, "names": names, "limit": limit + len(skip)}
        rows = list(conn.execute(_FINAL_RUNS, params))
    released: list[int] = []
    last_release: dict[str, int] = {}
    for run_id, task_name, status in rows:
        if run_id in skip:
            continue
        for edge in graph.downstream_of(task_name):
            template = templates.get(edge.downstream)
            if template is None or status not in edge.on.statuses:
                continue
            job_id = _release_one(conn, backend, graph, template, run_id, top, now, last_release)
            if job_id is not None:
                released.append(job_id)
    end = rows[-1][0] if len(rows) == limit + len(skip) else top
    new_cursor = end if settled is None else max(cursor, min(end, settled))
    if new_cursor != cursor:
        conn.execute(
            dependency_cursor.update()
            .where(dependency_cursor.c.name == CURSOR_NAME)
            .values(run_id=new_cursor, updated_at=now)
        )
    if released:
        backend.notify(conn)
    read = tuple(r[0] for r in rows if r[0] not in skip)
    return ReleasePass(read, tuple(released), new_cursor, top)


def _release_one(
    conn: Connection,
    backend: Backend,
    graph: DependencyGraph,
    template: NewJob,
    run_id: int,
    top: int,
    now: datetime,
    last_release: dict[str, int],
) -> int | None:
    """Release ``template``'s task by ``run_id``: at most once per (task, run) (the unique
    index), and with several upstreams (fan-in) only when each has a qualifying final run
    since the task's last release (by run ID: the release's run is the top of the range)."""
    task = template.task_name
    upstream = graph.upstream_of(task)
    if len(upstream) > 1 and not _fan_in(conn, upstream, task, run_id, top, last_release):
        return None
    job = replace(template, scheduled_at=now)
    values = {**new_job_values(job, now), "released_by_run_id": run_id}
    stmt = backend.insert(jobs).values(**values).on_conflict_do_nothing().returning(jobs.c.id)
    job_id = conn.execute(stmt).scalar()
    last_release[task] = max(last_release.get(task, 0), run_id)
    return None if job_id is None else int(job_id)


def _fan_in(
    conn: Connection,
    upstream: tuple[Edge, ...],
    task: str,
    run_id: int,
    top: int,
    last_release: dict[str, int],
) -> bool:
    if task not in last_release:
        last_release[task] = int(conn.execute(_LAST_RELEASE, {"task": task}).scalar() or 0)
    after = last_release[task]
    if run_id <= after:
        return False
    for edge in upstream:
        params = {"task": edge.upstream, "after": after, "top": top}
        if conn.execute(_QUALIFYING[edge.on], params).first() is None:
            return False
    return True


def requirement_params(task: str, since: datetime) -> dict[str, Any]:
    """The parameters of ``requirement_sql`` (times as the caller's driver takes them)."""
    return {"task": task, "since": since, "floor": since - REQUIREMENT_LOOKBACK}
