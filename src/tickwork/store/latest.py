"""Each task's latest run, kept in ``tickwork_task_latest`` as runs are recorded, so that a list
filtered by the latest run's status reads an index range instead of seeking every task's newest
run. The rule of "latest" (newest by start, ties by run ID: ``runs.NEWEST_FIRST``) and the
upsert that applies it are written here once; both dialects' completion paths, the interrupted
runs of ``jobs.take_back`` and retention call them.

The entries live in a table of their own, not on the task row: the schedulers read tasks with
SKIP LOCKED, and a completion's write must not hide a task from them. A task whose definition is
removed keeps its entry (definitions are only ever marked removed, never deleted)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.jobs import RunStatus
from tickwork.store.runs import NEWEST_FIRST
from tickwork.store.schema import UTCDateTime, runs, task_latest

# An entry: (task name, run ID, start, status), start encoded as the caller's statement wants.
Entry = tuple[str, int, Any, str]

_TABLE = task_latest.name
_COLUMNS = "task_name, run_id, started_at, status"
# The one comparison of "newer": by start, then by run ID (row values compare left to right on
# both dialects).
_NEWER = f"(excluded.started_at, excluded.run_id) > ({_TABLE}.started_at, {_TABLE}.run_id)"
# A batch's newest run per task in SQL (PostgreSQL's completion statement), in task name order:
# the same order as ``_NEWER``, descending.
NEWEST_ORDER_SQL = "task_name, started_at DESC, run_id DESC"


def upsert_sql(source: str) -> str:
    """The upsert of entries from ``source`` (a VALUES list or a SELECT of ``task_name,
    run_id, started_at, status``): an entry replaces the stored one only if its run is newer,
    so a run that completes after a newer one of its task never takes its place. ``source``
    must give one row per task (PostgreSQL refuses to update a row twice in one statement),
    in task name order (concurrent batches then lock the entries in one order)."""
    return (
        f"INSERT INTO {_TABLE} ({_COLUMNS}) {source}"
        " ON CONFLICT (task_name) DO UPDATE SET run_id = excluded.run_id,"
        " started_at = excluded.started_at, status = excluded.status"
        f" WHERE {_NEWER}"
    )


# Entries from bound values: ``?`` for the raw sqlite3 path, named ones for Core.
UPSERT_QMARK_SQL = upsert_sql("VALUES (?, ?, ?, ?)")
_UPSERT_CORE = sa.text(upsert_sql("VALUES (:task_name, :run_id, :started_at, :status)")).bindparams(
    sa.bindparam("started_at", type_=UTCDateTime())
)


def newest_per_task(entries: Iterable[Entry]) -> list[Entry]:
    """A batch's entries, one per task (its newest run, as ``_NEWER`` compares them), in task
    name order. Starts must be encoded alike (all datetimes, or all epoch seconds)."""
    newest: dict[str, Entry] = {}
    for entry in entries:
        held = newest.get(entry[0])
        if held is None or (entry[2], entry[1]) > (held[2], held[1]):
            newest[entry[0]] = entry
    return [newest[name] for name in sorted(newest)]


def record(conn: Connection, entries: Iterable[Entry]) -> None:
    """Upsert a batch's entries (starts as datetimes) through Core, on either dialect."""
    batch = newest_per_task(entries)
    if batch:
        conn.execute(
            _UPSERT_CORE,
            [{"task_name": t, "run_id": i, "started_at": s, "status": st} for t, i, s, st in batch],
        )


def with_status(name: sa.ColumnElement[str], statuses: Sequence[str]) -> sa.ColumnElement[bool]:
    """The tasks (``name``: a column of the enclosing query) whose latest run has one of
    ``statuses``: a range of ``ix_tickwork_task_latest_status``."""
    chosen = sa.select(task_latest.c.task_name).where(task_latest.c.status.in_(statuses))
    return name.in_(chosen)


def never_ran(name: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """The tasks without any run: no entry."""
    return ~sa.exists().where(task_latest.c.task_name == name)


# Names per statement of ``statuses``: SQLite allows a limited number of bound parameters.
NAMES_PER_QUERY = 500


def statuses(conn: Connection, task_names: Sequence[str]) -> dict[str, RunStatus]:
    """``Store.last_run_statuses``: the entries of these tasks (none for a task never run)."""
    found: dict[str, RunStatus] = {}
    unique = sorted(set(task_names))
    for i in range(0, len(unique), NAMES_PER_QUERY):
        query = sa.select(task_latest.c.task_name, task_latest.c.status).where(
            task_latest.c.task_name.in_(unique[i : i + NAMES_PER_QUERY])
        )
        found.update((name, RunStatus(status)) for name, status in conn.execute(query).all())
    return found


def forget(conn: Connection, run_ids: Sequence[int]) -> None:
    """After runs were deleted (retention): each entry that named one of them names its task's
    newest remaining run instead, or goes if its task has no run left."""
    if not run_ids:
        return
    ids = sorted(run_ids)
    entry = task_latest.c
    # The entries locked first, in name order as completions lock them (PostgreSQL; SQLite's
    # write lock is the database's): an UPDATE would take them in whatever order it scans.
    named = sa.select(entry.task_name).where(entry.run_id.in_(ids)).order_by(entry.task_name)
    if not conn.execute(named.with_for_update()).all():
        return
    newest = (
        sa.select(runs.c.id, runs.c.started_at, runs.c.status)
        .where(runs.c.task_name == entry.task_name)
        .order_by(*NEWEST_FIRST)
        .limit(1)
    )
    conn.execute(
        task_latest.update()
        .where(entry.run_id.in_(ids), sa.exists(newest))
        .values(
            run_id=newest.with_only_columns(runs.c.id).scalar_subquery(),
            started_at=newest.with_only_columns(runs.c.started_at).scalar_subquery(),
            status=newest.with_only_columns(runs.c.status).scalar_subquery(),
        )
    )
    # Those still naming a deleted run have none left.
    conn.execute(task_latest.delete().where(entry.run_id.in_(ids)))


def rebuild(conn: Connection) -> None:
    """Every entry again from the runs (tools that write runs in bulk, not by completing jobs):
    each task's newest run."""
    conn.execute(task_latest.delete())
    conn.execute(sa.text(BACKFILL_SQL))


# Each task's newest run: the names walked once from ``ix_tickwork_runs_task_started``, then one
# seek per task for its newest run. Migration 0013 backfills with its own copy of this text.
BACKFILL_SQL = f"""
INSERT INTO {_TABLE} ({_COLUMNS})
SELECT r.task_name, r.id, r.started_at, r.status
FROM (SELECT DISTINCT task_name FROM tickwork_runs) AS t
JOIN tickwork_runs AS r ON r.id = (
    SELECT n.id FROM tickwork_runs AS n WHERE n.task_name = t.task_name
    ORDER BY n.started_at DESC, n.id DESC LIMIT 1)
"""
