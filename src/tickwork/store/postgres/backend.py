"""The PostgreSQL backend of the SQL store: its hot paths on the event-loop connection or a pooled
raw connection, its Core paths where the dialects differ, its LISTEN watchers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.jobs import Completion, Job, NewJob
from tickwork.domain.queries import FirePlanner, RunStats
from tickwork.store import claiming, enqueueing, firing
from tickwork.store.base import Closeable
from tickwork.store.database import Database, store_error
from tickwork.store.postgres import core, queue
from tickwork.store.postgres.loop import LoopConnection
from tickwork.store.postgres.watch import PgLoopWatcher, PgNotifyWatcher

R = TypeVar("R")

# "sync": a transaction-level advisory lock. A sync reads the stored tasks, then inserts the
# missing ones: it holds the lock exclusively, so that neither another sync nor a producer's
# add_missing_tasks (shared: producers do not wait for each other) inserts a name in between,
# which would make its insert fail.
SYNC_LOCK_KEY = 0x73796E63
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_LOCK_SHARED = sa.text("SELECT pg_advisory_xact_lock_shared(:key)")


class PostgresBackend:
    """``backend.Backend`` on PostgreSQL."""

    name = "postgresql"
    lock_rows = True
    lateral = True
    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, db: Database) -> None:
        self._db = db
        # The hot calls made on the event loop skip the store threads.
        self._loop_conn = LoopConnection(self._conninfo())

    def _conninfo(self) -> str:
        """The engine's database as a libpq URL (for the connections made without the pool)."""
        url = self._db.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    # --- statements that differ ------------------------------------------------------------
    def insert(self, table: sa.Table) -> Any:
        return pg_insert(table)

    def notify(self, conn: Connection) -> None:
        # PostgreSQL folds identical notifications of one transaction into one.
        conn.execute(core.NOTIFY)

    def lock_definitions(self, conn: Connection, *, shared: bool) -> None:
        # Processes of every role sync at start, maybe at the same moment: one at a time, so
        # the second sees the first's rows instead of inserting them again.
        conn.execute(_LOCK_SHARED if shared else _LOCK, {"key": SYNC_LOCK_KEY})

    def hour_of_day(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.extract("hour", sa.func.timezone("UTC", column))

    def json_array_has(self, column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
        # The column is JSON (text kept as written); as JSONB, @> finds an element.
        return sa.cast(column, JSONB).contains([value])

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        # "C" compares bytes, and UTF-8's byte order is its code points' order, whatever the
        # database's own collation.
        return column.collate("C")

    def each_name(self, names: Sequence[str]) -> sa.TableValuedAlias:
        array = sa.bindparam(None, list(names), type_=ARRAY(sa.Text))
        return sa.func.unnest(array).table_valued("value").render_derived()

    def run_stats(
        self, conn: Connection, start: datetime, end: datetime, task_name: str | None
    ) -> list[RunStats]:
        return core.run_stats(conn, start, end, task_name)

    # --- the hot paths ----------------------------------------------------------------------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if not enqueueing.plain(new_jobs):
            return await self._db.write(core.enqueue_with_rules, new_jobs, now)
        ids = await self._on_loop(lambda conn: queue.enqueue_async(conn, new_jobs, now))
        if ids is not None:
            return ids
        return await self._db.call(self._raw, queue.enqueue, new_jobs, now)

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        horizon: datetime,
        rules: ClaimRules,
    ) -> list[Job]:
        if rules.empty:
            claimed = await self._on_loop(
                lambda conn: queue.claim_first_async(
                    conn, worker_id, limit, now, horizon, lease_until
                )
            )
            if claimed is not None:
                return claimed
        return await self._db.call(
            self._raw, queue.claim, worker_id, limit, now, horizon, lease_until, rules
        )

    async def complete(self, completions: Sequence[Completion]) -> list[int]:
        return await self._db.call(self._raw, queue.complete, completions)

    async def fire_due(
        self, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
    ) -> tuple[int, list[int]]:
        return await self._db.write(_fire_due, now, horizon, limit, plan)

    async def explain_holds(
        self, job_ids: Sequence[int], now: datetime, rules: ClaimRules
    ) -> dict[int, Hold]:
        return await self._db.read(_explain, job_ids, now, rules)

    def _raw(self, fn: Callable[..., R], *args: Any) -> R:
        with queue.connection(self._db.engine) as raw:
            return fn(raw, *args)

    async def _on_loop(
        self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[R | None]]
    ) -> R | None:
        """``fn`` on the event-loop connection, or None: the connection is in use, or ``fn``
        itself said no; the caller then takes the thread path. Database errors become
        ``StoreError`` and are not retried (a write's commit is unknown)."""
        try:
            return await self._loop_conn.run(fn)
        except self._db.errors as exc:
            raise store_error(exc) from exc

    # --- change notification and life cycle -------------------------------------------------
    def watch(
        self, on_change: Callable[[], None] | None, on_alerts: Callable[[], None] | None = None
    ) -> Closeable:
        """Call ``on_change`` soon after another transaction made jobs due or pending, and
        ``on_alerts`` after ``notify_alerts`` (one LISTEN for both). Called on a running event
        loop, it listens on that loop and calls them there (also once when the LISTEN is in
        place: what committed before may have been missed); otherwise from a thread of its
        own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return PgNotifyWatcher(self._conninfo(), on_change, on_alerts=on_alerts)
        return PgLoopWatcher(self._conninfo(), on_change, on_alerts=on_alerts)

    async def notify_workers(self) -> None:
        await self._db.write(self.notify)

    async def notify_alerts(self) -> None:
        await self._db.write(lambda conn: conn.execute(core.NOTIFY_ALERTS))

    async def close(self) -> None:
        await self._loop_conn.close()


def _fire_due(
    conn: Connection, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
) -> tuple[int, list[int]]:
    return firing.fire_due(core.FireStatements(conn), now, horizon, limit, plan)


def _explain(
    conn: Connection, job_ids: Sequence[int], now: datetime, rules: ClaimRules
) -> dict[int, Hold]:
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    return claiming.explain(conn, queue.ClaimStatements(raw), job_ids, now, rules)
