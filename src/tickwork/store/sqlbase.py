"""The SQL store's plumbing: engine, store thread(s), transactions, error mapping."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tickwork.domain.jobs import NewJob, new_job_state
from tickwork.errors import StoreError
from tickwork.store.sql import jobs
from tickwork.store.watch import (
    NOTIFY_CHANNEL,
    NoWatcher,
    PgLoopWatcher,
    PgNotifyWatcher,
    SqliteChangeWatcher,
)

if TYPE_CHECKING:
    import psycopg

    from tickwork.store.pg_fast import LoopConnection

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("tickwork.store")
_NOTIFY = sa.text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


class SqlBase:
    """Runs blocking SQLAlchemy Core work on its own threads so the event loop never waits on I/O.

    SQLite gets exactly one thread (SQLite has one writer anyway, and one connection avoids
    lock ping-pong inside the process); PostgreSQL gets one thread per pooled connection.
    """

    def __init__(self, engine: Engine, *, threads: int, skip_locked: bool) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._threads = threads
        self._skip_locked = skip_locked
        self._executor: ThreadPoolExecutor | None = None
        # The errors of the drivers in use. psycopg (and pg_fast) take ~0.1 s to import: only
        # PostgreSQL stores load them, not every SQLite command.
        self._db_errors: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, sqlite3.Error)
        # PostgreSQL: the hot calls made on the event loop skip the store thread (pg_fast).
        self._loop_conn: LoopConnection | None = None
        if self.dialect == "postgresql":
            import psycopg

            from tickwork.store.pg_fast import LoopConnection

            self._db_errors += (psycopg.Error,)
            self._loop_conn = LoopConnection(self._conninfo())

    def _conninfo(self) -> str:
        """The engine's database as a libpq URL (for the connections made without the pool)."""
        url = self.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="tickwork-store")

    async def close(self) -> None:
        if self._loop_conn is not None:
            await self._loop_conn.close()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, self.engine.dispose)
            executor.shutdown(wait=True)

    async def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on a store thread; database errors become ``StoreError``."""
        return await self._run(functools.partial(fn, *args, **kwargs), retry_disconnect=False)

    async def _call_read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Like ``_call``, for work that only reads: it is run once more when the connection
        turns out to be dead (the server restarted, an admin terminated it). Writes are not
        repeated here, since a write whose commit was cut off may have happened; their callers
        retry (``runtime.backoff.StoreRetry``)."""
        return await self._run(functools.partial(fn, *args, **kwargs), retry_disconnect=True)

    async def _run(self, call: Callable[[], R], *, retry_disconnect: bool) -> R:
        if self._executor is None:
            await self.open()
        loop = asyncio.get_running_loop()
        retries = 1 if retry_disconnect else 0
        while True:
            try:
                return await loop.run_in_executor(self._executor, call)
            except self._db_errors as exc:
                # The driver's own message only: SQLAlchemy's text would echo bound parameters,
                # which may hold secrets (e.g. HTTP headers of a task).
                orig = getattr(exc, "orig", None) or exc
                if retries and is_disconnect(exc):
                    retries -= 1
                    log.info("store connection lost (%s); reading again", type(orig).__name__)
                    continue
                raise StoreError(f"{type(orig).__name__}: {orig}") from exc

    async def _on_loop(
        self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[R | None]]
    ) -> R | None:
        """``fn`` on the event-loop connection (PostgreSQL), or None: not PostgreSQL, the
        connection is in use, or ``fn`` itself said no; the caller then takes the thread path.
        Database errors become ``StoreError`` and are not retried (as ``_call``)."""
        if self._loop_conn is None:
            return None
        try:
            return await self._loop_conn.run(fn)
        except self._db_errors as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    def watch(
        self, on_change: Callable[[], None]
    ) -> SqliteChangeWatcher | PgNotifyWatcher | PgLoopWatcher | NoWatcher:
        """Call ``on_change`` soon after another connection commits (SQLite: any commit;
        PostgreSQL: a commit that made jobs due or pending). On PostgreSQL, called on a running
        event loop, it listens on that loop and calls ``on_change`` there (also once when the
        LISTEN is in place: what committed before may have been missed); otherwise it calls it
        from a thread of its own."""
        database = self.engine.url.database
        if self.dialect == "sqlite" and database and database != ":memory:":
            return SqliteChangeWatcher(database, on_change)
        if self.dialect == "postgresql":
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return PgNotifyWatcher(self._conninfo(), on_change)
            return PgLoopWatcher(self._conninfo(), on_change)
        return NoWatcher()

    async def notify_workers(self) -> None:
        """Wake idle workers of every process now (PostgreSQL: a NOTIFY; SQLite workers poll)."""
        if self.dialect == "postgresql":
            await self._call(self._notify_now)

    def _notify_now(self) -> None:
        with self._write() as conn:
            conn.execute(_NOTIFY)

    def _notify(self, conn: Connection) -> None:
        """Wake the watchers of other processes when this transaction commits (PostgreSQL;
        SQLite's watcher sees every commit). Call it once per transaction that made jobs due or
        pending; PostgreSQL folds identical notifications of one transaction into one anyway."""
        if self.dialect == "postgresql":
            conn.execute(_NOTIFY)

    def _write(self) -> Any:
        return self.engine.begin()

    def _read(self) -> Any:
        return self.engine.connect().execution_options(tickwork_read=True)

    def _dialect_insert(self, table: sa.Table) -> Any:
        """The backend's own INSERT of ``table``, which takes ``on_conflict_do_nothing`` and
        ``on_conflict_do_update`` (PostgreSQL and SQLite spell them alike)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _insert_job_once(self, conn: Connection, job: NewJob, now: datetime) -> int | None:
        stmt = (
            self._dialect_insert(jobs)
            .values(**new_job_values(job, now))
            .on_conflict_do_nothing(index_elements=["task_name", "fire_at"])
            .returning(jobs.c.id)
        )
        return conn.execute(stmt).scalar()


def is_disconnect(exc: BaseException) -> bool:
    """Whether a database error means the connection is gone (so a retry gets a new one)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc  # the raw psycopg paths (pg_fast) raise it as is
    # Not loaded: no PostgreSQL store in this process, so not a psycopg error.
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(orig, psycopg.OperationalError)


def new_job_values(job: NewJob, now: datetime) -> dict[str, Any]:
    state = new_job_state(job, now)
    return {
        "task_name": job.task_name,
        "state": state.value,
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "priority": job.priority,
        "key": job.key,
        "unique_key": job.unique_key,
        "scheduled_at": job.scheduled_at,
        "attempt": 0,
        "max_attempts": job.max_attempts,
        "triggered_by": job.triggered_by.value,
        "fire_at": job.fire_at,
        "created_at": now,
        "started_at": None,
        "finished_at": now if job.skip_reason else None,
        "worker_id": None,
        "lease_expires_at": None,
        "last_error": job.skip_reason,
        "watch_job_id": job.watch_job_id,
        "cancel_requested_at": None,
    }
