"""The SQL store's task and schedule queries (definitions, due schedules, fires)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tickwork.domain.limits import policies_from_dict
from tickwork.domain.tasks import Task, TaskDefinition, TaskSource
from tickwork.store import rows, sqlite_fast
from tickwork.store.base import DueSchedule, Fire, FirePlanner, SyncReport
from tickwork.store.sql import PENDING_SQL, active_for_overlap, jobs, tasks
from tickwork.store.sqlbase import SqlBase

# "sync": a transaction-level advisory lock on PostgreSQL. A sync reads the stored tasks, then
# inserts the missing ones: it holds the lock exclusively, so that neither another sync nor a
# producer's add_missing_tasks (shared: producers do not wait for each other) inserts a name
# in between, which would make its insert fail.
SYNC_LOCK_KEY = 0x73796E63


class SqlTasks(SqlBase):
    """Task definitions and their schedules."""

    # --- tasks -----------------------------------------------------------------------------
    async def sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        return await self._call(self._sync_tasks, definitions, sources, next_fires, now)

    def _sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        report = SyncReport()
        previous = report.previous
        with self._write() as conn:
            if self.dialect == "postgresql":
                # Processes of every role sync at start, maybe at the same moment: one at a time,
                # so the second sees the first's rows instead of inserting them again.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
            existing = {r["name"]: r for r in conn.execute(sa.select(tasks)).mappings().all()}
            wanted = {d.name for d in definitions}
            for defn in definitions:
                values = rows.task_values(defn)
                old = existing.get(defn.name)
                if old is None:
                    conn.execute(
                        tasks.insert().values(
                            **values,
                            next_fire_at=next_fires.get(defn.name),
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    report.created.append(defn.name)
                    continue
                # `enabled` is the operator's switch once a task exists (like a paused DAG in
                # Airflow): a restart must not undo `tickwork jobs disable`.
                values.pop("enabled")
                same = all(old[k] == v for k, v in values.items())
                if same and old["removed_at"] is None:
                    report.unchanged.append(defn.name)
                    continue
                changes: dict[str, Any] = {**values, "updated_at": now, "removed_at": None}
                schedule_changed = (
                    old["schedule"] != defn.schedule
                    or old["timezone"] != defn.timezone
                    or old["removed_at"] is not None
                )
                if schedule_changed:
                    changes["next_fire_at"] = next_fires.get(defn.name)
                conn.execute(tasks.update().where(tasks.c.name == defn.name).values(**changes))
                report.updated.append(defn.name)
                previous[defn.name] = rows.task_from_row(old)
            source_values = {s.value for s in sources}
            for name, old in existing.items():
                if name in wanted or old["source"] not in source_values:
                    continue
                if old["removed_at"] is None:
                    conn.execute(
                        tasks.update()
                        .where(tasks.c.name == name)
                        .values(removed_at=now, next_fire_at=None, updated_at=now)
                    )
                    report.removed.append(name)
                    previous[name] = rows.task_from_row(old)
        return report

    async def add_missing_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> list[str]:
        if not definitions:
            return []
        return await self._call(self._add_missing_tasks, definitions, next_fires, now)

    def _add_missing_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> list[str]:
        created: list[str] = []
        with self._write() as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": SYNC_LOCK_KEY}
                )
            # In name order: two producers inserting the same new names wait for each other
            # in the same order instead of deadlocking.
            for defn in sorted(definitions, key=lambda d: d.name):
                stmt = (
                    self._dialect_insert(tasks)
                    .values(
                        **rows.task_values(defn),
                        next_fire_at=next_fires.get(defn.name),
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(tasks.c.name)
                )
                if conn.execute(stmt).scalar() is not None:
                    created.append(defn.name)
        return created

    async def get_task(self, name: str) -> Task | None:
        return await self._call_read(self._get_task, name)

    def _get_task(self, name: str) -> Task | None:
        with self._read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.name == name)).mappings().first()
        return rows.task_from_row(row) if row else None

    async def get_tasks(self, names: Sequence[str]) -> list[Task]:
        return await self._call_read(self._get_tasks, names)

    def _get_tasks(self, names: Sequence[str]) -> list[Task]:
        found: list[Task] = []
        unique = sorted(set(names))
        with self._read() as conn:
            # Chunked: SQLite allows a limited number of bound parameters per statement.
            for i in range(0, len(unique), 500):
                query = sa.select(tasks).where(tasks.c.name.in_(unique[i : i + 500]))
                found += [rows.task_from_row(r) for r in conn.execute(query).mappings()]
        return found

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]:
        return await self._call_read(self._list_tasks, include_removed)

    def _list_tasks(self, include_removed: bool) -> list[Task]:
        query = sa.select(tasks).order_by(tasks.c.name)
        if not include_removed:
            query = query.where(tasks.c.removed_at.is_(None))
        with self._read() as conn:
            return [rows.task_from_row(r) for r in conn.execute(query).mappings()]

    async def set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        return await self._call(self._set_task_enabled, name, enabled, next_fire_at, now)

    def _set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        with self._write() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.name == name)
                .values(enabled=enabled, next_fire_at=next_fire_at, updated_at=now)
            )
            row = conn.execute(sa.select(tasks).where(tasks.c.name == name)).mappings().first()
        return rows.task_from_row(row) if row else None

    # --- scheduling -----------------------------------------------------------------------
    def _firing(self) -> Any:
        return sa.and_(
            tasks.c.enabled.is_(True),
            tasks.c.removed_at.is_(None),
            tasks.c.next_fire_at.isnot(None),
        )

    async def due_tasks(self, now: datetime, limit: int) -> list[Task]:
        return await self._call_read(self._due_tasks, now, limit)

    def _due_tasks(self, now: datetime, limit: int) -> list[Task]:
        query = (
            sa.select(tasks)
            .where(self._firing(), tasks.c.next_fire_at <= now)
            .order_by(tasks.c.next_fire_at, tasks.c.name)
            .limit(limit)
        )
        with self._read() as conn:
            return [rows.task_from_row(r) for r in conn.execute(query).mappings()]

    async def next_fire_time(self) -> datetime | None:
        return await self._call_read(self._next_fire_time)

    def _next_fire_time(self) -> datetime | None:
        query = sa.select(sa.func.min(tasks.c.next_fire_at)).where(self._firing())
        with self._read() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    async def fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, *, horizon: datetime | None = None
    ) -> tuple[int, list[int]]:
        return await self._call(self._fire_due, now, limit, plan, horizon or now)

    def _fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, horizon: datetime
    ) -> tuple[int, list[int]]:
        if self.dialect == "sqlite":
            with self._write() as conn:
                return sqlite_fast.fire_due(
                    conn.connection.driver_connection, now, horizon, limit, plan
                )
        query = (
            sa.select(
                tasks.c.name,
                tasks.c.schedule,
                tasks.c.timezone,
                tasks.c.next_fire_at,
                tasks.c.args,
                tasks.c.kwargs,
                tasks.c.priority,
                tasks.c.max_retries,
                tasks.c.policies,
            )
            .where(self._firing(), tasks.c.next_fire_at <= horizon)
            .order_by(tasks.c.next_fire_at, tasks.c.name)
            .limit(limit)
        )
        if self._skip_locked:
            # Schedulers share the due schedules: a locked one belongs to another scheduler.
            query = query.with_for_update(skip_locked=True)
        created: list[int] = []
        with self._write() as conn:
            rows_ = conn.execute(query).all()
            active = self._active_counts(conn, [r.name for r in rows_], horizon)
            due = [
                DueSchedule(
                    r.name,
                    r.schedule,
                    r.timezone,
                    r.next_fire_at,
                    r.args,
                    r.kwargs,
                    r.priority,
                    r.max_retries + 1,
                    policies_from_dict(r.policies),
                    active.get(r.name, 0),
                )
                for r in rows_
            ]
            for fire in map(plan, due):
                conn.execute(
                    tasks.update()
                    .where(tasks.c.name == fire.task_name)
                    .values(next_fire_at=fire.next_fire_at, last_fire_at=fire.previous_next_fire_at)
                )
                if fire.cancel_active:
                    self._replace_active(conn, fire.task_name, now, horizon)
                for new in (fire.job, *fire.extra_jobs):
                    if new is not None:
                        job_id = self._insert_job_once(conn, new, now)
                        if job_id is not None:
                            created.append(job_id)
            if created:
                self._notify(conn)
        return len(due), created

    def _active_counts(self, conn: Any, names: list[str], horizon: datetime) -> dict[str, int]:
        if not names:
            return {}
        query = (
            sa.select(jobs.c.task_name, sa.func.count())
            .where(
                jobs.c.task_name.in_(names),
                jobs.c.state.in_((*PENDING_SQL, "running")),  # the partial index's predicate
                active_for_overlap(horizon),
            )
            .group_by(jobs.c.task_name)
        )
        return {name: n for name, n in conn.execute(query)}

    def _replace_active(self, conn: Any, task_name: str, now: datetime, horizon: datetime) -> None:
        conn.execute(
            jobs.update()
            .where(
                jobs.c.task_name == task_name,
                jobs.c.state.in_(PENDING_SQL),
                active_for_overlap(horizon),
            )
            .values(state="cancelled", finished_at=now, last_error=sqlite_fast.REPLACED)
        )
        conn.execute(
            jobs.update()
            .where(
                jobs.c.task_name == task_name,
                jobs.c.state == "running",
                jobs.c.cancel_requested_at.is_(None),
            )
            .values(cancel_requested_at=now)
        )

    async def record_fires(self, fires: Sequence[Fire], now: datetime) -> list[int]:
        return await self._call(self._record_fires, fires, now)

    def _record_fires(self, fires: Sequence[Fire], now: datetime) -> list[int]:
        created: list[int] = []
        with self._write() as conn:
            for fire in fires:
                advanced = conn.execute(
                    tasks.update()
                    .where(
                        tasks.c.name == fire.task_name,
                        tasks.c.next_fire_at == fire.previous_next_fire_at,
                    )
                    .values(next_fire_at=fire.next_fire_at, last_fire_at=fire.previous_next_fire_at)
                )
                if advanced.rowcount != 1 or fire.job is None:
                    continue
                job_id = self._insert_job_once(conn, fire.job, now)
                if job_id is not None:
                    created.append(job_id)
            if created:
                self._notify(conn)
        return created
