"""The SQLite backend of the SQL store: its hot paths in the write transaction of the store's one
thread, its statements where the dialects differ, and its commit watcher."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.pool import PoolProxiedConnection

from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.jobs import Completion, Job, NewJob, RunStatus
from tickwork.domain.queries import FirePlanner, RunStats
from tickwork.store import claiming
from tickwork.store.base import Closeable
from tickwork.store.database import Database
from tickwork.store.runs import P95, TIMED_SQL
from tickwork.store.sqlite import queue
from tickwork.store.sqlite.watch import NoWatcher, SqliteChangeWatcher


class SqliteBackend:
    """``backend.Backend`` on SQLite."""

    name = "sqlite"
    lock_rows = False
    lateral = False
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, db: Database) -> None:
        self._db = db
        # The hot paths' own connection, checked out of the pool once on the store's thread and
        # kept: a SQLAlchemy ``Connection`` per transaction (its events, the pool's checkout and
        # reset) cost about as much as a one-row enqueue itself.
        self._hot: PoolProxiedConnection | None = None

    # --- statements that differ ------------------------------------------------------------
    def insert(self, table: sa.Table) -> Any:
        return sqlite_insert(table)

    def notify(self, conn: Connection) -> None:
        return None  # every process's commit watcher sees every commit

    def lock_definitions(self, conn: Connection, *, shared: bool) -> None:
        return None  # the write transaction holds the database's lock

    def hour_of_day(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # Epoch seconds (> 0, so the cast is a floor): seconds into the UTC day, in hours.
        seconds = sa.cast(column, sa.Integer)
        return (seconds % 86400) // 3600

    def json_array_has(self, column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
        each = sa.func.json_each(column).table_valued("value")
        return sa.exists(sa.select(1).select_from(each).where(each.c.value == value))

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return column  # SQLite's own BINARY collation compares UTF-8 bytes: code points

    def each_name(self, names: Sequence[str]) -> sa.TableValuedAlias:
        return sa.func.json_each(json.dumps(list(names))).table_valued("value")

    def run_stats(
        self, conn: Connection, start: datetime, end: datetime, task_name: str | None
    ) -> list[RunStats]:
        """SQLite has no percentile aggregate, and ranking in a window query costs more than
        reading three narrow columns once, on the raw driver, and aggregating here."""
        sql = (
            "SELECT task_name, status, duration_seconds FROM tickwork_runs"
            " WHERE started_at >= ? AND started_at < ?"
        )
        params: tuple[Any, ...] = (start.timestamp(), end.timestamp())
        if task_name is not None:
            sql += " AND task_name = ?"
            params += (task_name,)
        counts: dict[str, list[int]] = {}
        durations: dict[str, list[float]] = {}
        for name, status, seconds in _raw(conn).execute(sql, params):
            n = counts.get(name)
            if n is None:
                n = counts[name] = [0, 0, 0]
                durations[name] = []
            n[0] += 1
            if status in TIMED_SQL:
                durations[name].append(seconds)
                if status == RunStatus.SUCCEEDED.value:
                    n[1] += 1
                else:
                    n[2] += 1
        stats = []
        for name in sorted(counts):
            total, ok, bad = counts[name]
            values = sorted(durations[name])
            stats.append(
                RunStats(
                    task_name=name,
                    runs=total,
                    succeeded=ok,
                    failed=bad,
                    avg_duration_seconds=sum(values) / len(values) if values else None,
                    p95_duration_seconds=percentile_cont(values, P95) if values else None,
                    max_duration_seconds=values[-1] if values else None,
                )
            )
        return stats

    # --- the hot paths: the raw driver inside the store thread's write transaction ----------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        return await self._db.call(self._raw_write, queue.enqueue, new_jobs, now)

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        horizon: datetime,
        rules: ClaimRules,
    ) -> list[Job]:
        return await self._db.call(
            self._raw_write, queue.claim, worker_id, limit, now, horizon, lease_until, rules
        )

    async def complete(self, completions: Sequence[Completion]) -> list[int]:
        return await self._db.call(self._raw_write, queue.complete, completions)

    async def fire_due(
        self, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
    ) -> tuple[int, list[int]]:
        return await self._db.call(self._raw_write, queue.fire_due, now, horizon, limit, plan)

    async def explain_holds(
        self, job_ids: Sequence[int], now: datetime, rules: ClaimRules
    ) -> dict[int, Hold]:
        return await self._db.read(_explain, job_ids, now, rules)

    def _raw_write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(raw, ...)`` in a write transaction (``BEGIN IMMEDIATE``, as the engine's own
        writers take it) on the hot paths' connection. Runs on the store's one thread."""
        if self._hot is None:
            self._hot = self._db.engine.raw_connection()  # the engine's connect settings apply
        raw: sqlite3.Connection = self._hot.driver_connection  # type: ignore[assignment]
        raw.execute("BEGIN IMMEDIATE")
        try:
            result = fn(raw, *args)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        return result

    def _release_hot(self) -> None:
        hot, self._hot = self._hot, None
        if hot is not None:
            hot.close()  # back to the pool, which the store's close then disposes of

    # --- change notification and life cycle -------------------------------------------------
    def watch(
        self, on_change: Callable[[], None] | None, on_alerts: Callable[[], None] | None = None
    ) -> Closeable:
        """Call ``on_change`` soon after another connection commits. ``on_alerts`` is never
        called: a commit does not say what it changed, and an evaluation per commit would
        cost more than the evaluators' own ticks."""
        database = self._db.engine.url.database
        if on_change is not None and database and database != ":memory:":
            return SqliteChangeWatcher(database, on_change)
        return NoWatcher()

    async def notify_workers(self) -> None:
        return None  # workers see commits and poll: nothing to send

    async def notify_alerts(self) -> None:
        return None  # nothing carries it: other processes' evaluators see it on their tick

    async def close(self) -> None:
        if self._hot is not None:
            await self._db.call(self._release_hot)


def _raw(conn: Connection) -> sqlite3.Connection:
    raw: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
    return raw


def _explain(
    conn: Connection, job_ids: Sequence[int], now: datetime, rules: ClaimRules
) -> dict[int, Hold]:
    return claiming.explain(conn, queue.ClaimStatements(_raw(conn)), job_ids, now, rules)


def percentile_cont(ordered: Sequence[float], p: float) -> float:
    """The ``p`` percentile of sorted, non-empty ``ordered`` by linear interpolation between
    the closest ranks, as PostgreSQL's ``percentile_cont`` computes it."""
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    value = ordered[low]
    fraction = position - low
    if fraction > 0:
        value += (ordered[low + 1] - value) * fraction
    return value
