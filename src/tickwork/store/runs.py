"""Runs in SQL (Core, both dialects), apart from the hot path that records them: read, paged with
keyset cursors, each task's newest runs, counts by hour; what run statistics count."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.jobs import Run, RunMark, RunStatus
from tickwork.domain.queries import RUN_SORTS, RunQuery
from tickwork.store.backend import Backend
from tickwork.store.rows import RUN_MARKS, RUNS, columns, run_from_row, run_mark_from_row
from tickwork.store.schema import PROBLEM_SQL, runs

P95 = 0.95
# Runs that were an attempt of the task's own work; skipped, deferred and interrupted runs
# count in ``RunStats.runs`` only, so their durations do not distort the figures.
TIMED_SQL = (RunStatus.SUCCEEDED.value, *PROBLEM_SQL)

_RUN = sa.select(*columns(RUNS))
_SORT_COLUMNS = {
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
    "duration": runs.c.duration_seconds,
    "id": runs.c.id,  # recording order (the live-event poller follows it)
}
assert set(_SORT_COLUMNS) == set(RUN_SORTS)


def get(conn: Connection, run_id: int) -> Run | None:
    row = conn.execute(_RUN.where(runs.c.id == run_id)).first()
    return run_from_row(row) if row else None


def query(conn: Connection, q: RunQuery) -> list[Run]:
    """``Store.query_runs``."""
    column = _SORT_COLUMNS[q.sort]
    stmt = _RUN
    if q.task_name is not None:
        stmt = stmt.where(runs.c.task_name == q.task_name)
    if q.job_id is not None:
        stmt = stmt.where(runs.c.job_id == q.job_id)
    if q.statuses:
        stmt = stmt.where(runs.c.status.in_([s.value for s in q.statuses]))
    if q.triggered_by:
        stmt = stmt.where(runs.c.triggered_by.in_([t.value for t in q.triggered_by]))
    if q.started_from is not None:
        stmt = stmt.where(runs.c.started_at >= q.started_from)
    if q.started_to is not None:
        stmt = stmt.where(runs.c.started_at < q.started_to)
    # Cursors are keyset positions in (sort key, id) order, so pages never overlap or skip,
    # whatever ties the sort key has. ``before_id``: what comes before that run in ascending
    # order (the next page when descending); ``after_id``: what follows.
    for cursor, before in ((q.before_id, True), (q.after_id, False)):
        if cursor is None:
            continue
        key = conn.execute(sa.select(column).where(runs.c.id == cursor)).first()
        if key is None:
            return []  # an unknown cursor has no position
        stmt = stmt.where(_keyset(column, key[0], cursor, before=before))
    if q.ascending:
        stmt = stmt.order_by(column.asc(), runs.c.id.asc())
    else:
        stmt = stmt.order_by(column.desc(), runs.c.id.desc())
    stmt = stmt.offset(q.offset).limit(q.limit)
    return [run_from_row(r) for r in conn.execute(stmt)]


# A task's runs newest first: by start, ties by recording order. ``ix_tickwork_runs_task_started``
# (task name, start, ID) serves it as a seek per task, with no sort after it.
NEWEST_FIRST = (runs.c.started_at.desc(), runs.c.id.desc())


# Tasks per statement of ``recent_marks``: SQLite allows 500 terms in a compound SELECT.
def recent_marks(
    conn: Connection, backend: Backend, task_names: Sequence[str], per_task: int
) -> dict[str, list[RunMark]]:
    """``Store.recent_runs``: each task's newest ``per_task`` runs in one statement
    (``newest_runs``)."""
    found: dict[str, list[RunMark]] = {name: [] for name in task_names}
    if not found or per_task <= 0:
        return found
    stmt = newest_runs(backend, list(found), per_task, columns(RUN_MARKS))
    # all(): one fetch for the rows, not one call per row.
    for row in conn.execute(stmt).all():
        mark = run_mark_from_row(row)
        found[mark.task_name].append(mark)
    for marks in found.values():
        marks.sort(key=lambda m: (m.started_at, m.id), reverse=True)
    return found


def newest_runs(
    backend: Backend,
    names: Sequence[str],
    limit: int,
    wanted: Sequence[sa.ColumnElement[Any]],
    statuses: Collection[str] | None = None,
) -> sa.Select[Any]:
    """``wanted`` (columns of ``runs``) of each name's newest ``limit`` runs (of ``statuses``,
    if given), newest by start then ID: a walk of ``ix_tickwork_runs_task_started`` per name
    that stops at its limit, never a window over every run. The names are one parameter
    (``Backend.each_name``), so the statement is the same whatever their number: PostgreSQL
    picks per name with a LATERAL subquery, SQLite with a correlated one."""
    each = backend.each_name(names)
    newest = runs.alias("newest")
    pick = sa.select(newest.c.id).where(newest.c.task_name == each.c.value)
    if statuses is not None:
        pick = pick.where(newest.c.status.in_(list(statuses)))
    pick = pick.order_by(newest.c.started_at.desc(), newest.c.id.desc()).limit(limit)
    stmt = sa.select(*wanted)
    if backend.lateral:
        chosen = pick.lateral("chosen")
        return stmt.select_from(each.join(chosen, sa.true()).join(runs, runs.c.id == chosen.c.id))
    return stmt.select_from(each.join(runs, runs.c.id.in_(pick)))


def by_hour(conn: Connection, backend: Backend, start: datetime, end: datetime) -> dict[int, int]:
    """``Store.runs_by_hour``."""
    hour = sa.cast(backend.hour_of_day(runs.c.started_at), sa.Integer).label("hour")
    stmt = (
        sa.select(hour, sa.func.count())
        .where(runs.c.started_at >= start, runs.c.started_at < end)
        .group_by(hour)
    )
    return {int(h): int(n) for h, n in conn.execute(stmt)}


def _keyset(column: Any, key: Any, cursor: int, *, before: bool) -> Any:
    """Rows strictly before (or after) the position (``key``, ``cursor``) in (column, id)
    order. The plain bound on the column comes first so that an index on it is a range."""
    if before:
        return sa.and_(column <= key, sa.or_(column < key, runs.c.id < cursor))
    return sa.and_(column >= key, sa.or_(column > key, runs.c.id > cursor))
