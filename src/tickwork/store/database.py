"""The store's threads: blocking work off the event loop, transactions, database errors mapped.

SQLite gets exactly one thread (SQLite has one writer anyway, and one connection avoids lock
ping-pong inside the process); PostgreSQL gets one thread per pooled connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tickwork.errors import StoreError

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("tickwork.store")


class Database:
    """An engine and the threads its blocking work runs on.

    ``errors`` are the database errors of the drivers in use: they become ``StoreError`` with
    the driver's own message only (SQLAlchemy's text would echo bound parameters, which may
    hold secrets, e.g. HTTP headers of a task).
    """

    def __init__(
        self, engine: Engine, *, threads: int, errors: tuple[type[Exception], ...]
    ) -> None:
        self.engine = engine
        self.errors: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, *errors)
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="tickwork-store")

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, self.engine.dispose)
            executor.shutdown(wait=True)

    # --- transactions (on a store thread) ----------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, see ``sqlite.engine``)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (SQLite: a deferred ``BEGIN``)."""
        with self.engine.connect().execution_options(tickwork_read=True) as conn:
            yield conn

    # --- calls from the event loop ----------------------------------------------------------
    async def write(
        self, fn: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``fn(conn, ...)`` in one write transaction on a store thread."""
        return await self.call(self._in_transaction, functools.partial(fn, **kwargs), *args)

    async def read(
        self, fn: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``fn(conn, ...)`` on a reading connection on a store thread, read once more when
        the connection turns out to be dead (see ``call_read``)."""
        return await self.call_read(self._on_connection, functools.partial(fn, **kwargs), *args)

    def _in_transaction(self, fn: Callable[..., R], *args: object) -> R:
        with self.begin() as conn:
            return fn(conn, *args)

    def _on_connection(self, fn: Callable[..., R], *args: object) -> R:
        with self.connect() as conn:
            return fn(conn, *args)

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on a store thread; database errors become ``StoreError``."""
        return await self._run(functools.partial(fn, *args, **kwargs), retry_disconnect=False)

    async def call_read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Like ``call``, for work that only reads: it is run once more when the connection
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
                # In the caller's context: lines logged on the store's thread (a fire planner's)
                # carry the caller's IDs (``tickwork.logs``).
                context = contextvars.copy_context()
                return await loop.run_in_executor(self._executor, context.run, call)
            except self.errors as exc:
                orig = getattr(exc, "orig", None) or exc
                if retries and is_disconnect(exc):
                    retries -= 1
                    log.info("store connection lost (%s); reading again", type(orig).__name__)
                    continue
                raise store_error(exc) from exc


def store_error(exc: BaseException) -> StoreError:
    """The ``StoreError`` of a database error: the driver's own message."""
    orig = getattr(exc, "orig", None) or exc
    return StoreError(f"{type(orig).__name__}: {orig}")


def is_disconnect(exc: BaseException) -> bool:
    """Whether a database error means the connection is gone (so a retry gets a new one)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc  # the raw psycopg paths raise it as is
    # Not loaded: no PostgreSQL store in this process, so not a psycopg error.
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(orig, psycopg.OperationalError)
