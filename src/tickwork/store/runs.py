"""Runs in SQL (Core, both dialects), apart from the hot path that records them: read, paged with
keyset cursors, each task's newest runs, counts by hour; what run statistics count."""

from __future__ import annotations

import functools
from collections.abc import Sequence
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
RECENT_CHUNK = 200


def recent_marks(
    conn: Connection, task_names: Sequence[str], per_task: int
) -> dict[str, list[RunMark]]:
    """``Store.recent_runs``: one SELECT per task with its own LIMIT, joined by UNION ALL, so
    each reads only its newest rows through ``ix_tickwork_runs_task_started`` (a window
    function would number every run of every task first)."""
    found: dict[str, list[RunMark]] = {name: [] for name in task_names}
    names = list(found)
    for i in range(0, len(names), RECENT_CHUNK):
        chunk = names[i : i + RECENT_CHUNK]
        params: dict[str, Any] = {f"name_{k}": name for k, name in enumerate(chunk)}
        # all(): one fetch for the rows, not one call per row.
        for row in conn.execute(_newest(len(chunk)), {**params, "per_task": per_task}).all():
            mark = run_mark_from_row(row)
            found[mark.task_name].append(mark)
    for marks in found.values():
        marks.sort(key=lambda m: (m.started_at, m.id), reverse=True)
    return found


@functools.cache
def _newest(count: int) -> sa.CompoundSelect[Any]:
    """The statement of ``recent_marks`` for ``count`` tasks (``:name_0``… and ``:per_task``),
    built once per count: building 50 subqueries took longer than running them."""
    picks = [
        sa.select(*columns(RUN_MARKS))
        .where(runs.c.task_name == sa.bindparam(f"name_{k}", type_=runs.c.task_name.type))
        .order_by(*NEWEST_FIRST)
        .limit(sa.bindparam("per_task", type_=sa.Integer))
        .subquery()
        for k in range(count)
    ]
    return sa.union_all(*(sa.select(*pick.c) for pick in picks))


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
