"""What a dialect package gives the SQL store: its hot paths on the raw driver and the few
statements where the dialects differ. ``sqlite.SqliteBackend`` and ``postgres.PostgresBackend``
implement it; the shared modules only ever see this protocol, never a dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.jobs import Completion, Job, NewJob
from tickwork.domain.queries import FirePlanner, RunStats
from tickwork.store.base import Closeable


class Backend(Protocol):
    """A dialect's part of the SQL store (built on the store's ``Database``)."""

    name: str  # the SQLAlchemy dialect: "sqlite" or "postgresql"
    # Whether a row read to be changed is locked (SELECT ... FOR UPDATE): PostgreSQL. SQLite
    # writers hold the database's write lock from BEGIN IMMEDIATE on.
    lock_rows: bool
    # Whether a FROM item may be LATERAL (PostgreSQL); SQLite correlates a subquery instead.
    lateral: bool

    # --- statements that differ, on a Core connection in the caller's transaction ----------
    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT of ``table``, which takes ``on_conflict_do_nothing`` and
        ``on_conflict_do_update`` (PostgreSQL and SQLite spell them alike)."""
        ...

    def notify(self, conn: Connection) -> None:
        """Wake the watchers of other processes when this transaction commits (PostgreSQL;
        SQLite's watcher sees every commit). Once per transaction that made jobs due or
        pending."""

    def lock_definitions(self, conn: Connection, *, shared: bool) -> None:
        """Serialise a sync (exclusive) against other syncs and registrations (shared)."""

    def hour_of_day(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The UTC hour (0-23) of a time column."""
        ...

    def json_array_has(self, column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
        """Whether the JSON array of strings in ``column`` holds ``value`` (a task's tags)."""
        ...

    def by_code_point(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """``column`` compared and sorted by code point, as Python compares strings: the
        order of names the domain sorts by (``sort_task_keys``) and keyset pages follow."""

    def each_name(self, names: Sequence[str]) -> sa.TableValuedAlias:
        """``names`` as a table of one column, ``value``, bound as one parameter whatever
        their number: a statement about many tasks is one statement, never one per chunk."""
        ...

    def run_stats(
        self, conn: Connection, start: datetime, end: datetime, task_name: str | None
    ) -> list[RunStats]:
        """``Store.run_stats``."""
        ...

    # --- the hot paths: each runs its own transaction ------------------------------------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]: ...

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        horizon: datetime,
        rules: ClaimRules,
    ) -> list[Job]:
        """Claimed jobs, in any order."""
        ...

    async def complete(self, completions: Sequence[Completion]) -> list[int]: ...

    async def fire_due(
        self, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
    ) -> tuple[int, list[int]]: ...

    async def explain_holds(
        self, job_ids: Sequence[int], now: datetime, rules: ClaimRules
    ) -> dict[int, Hold]: ...

    # --- change notification and life cycle -------------------------------------------------
    def watch(
        self, on_change: Callable[[], None] | None, on_alerts: Callable[[], None] | None = None
    ) -> Closeable: ...

    async def notify_workers(self) -> None: ...

    async def notify_alerts(self) -> None: ...

    async def close(self) -> None: ...
