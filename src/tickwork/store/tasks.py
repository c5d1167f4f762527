"""Tasks and their schedules in SQL (Core, both dialects): definitions synced, registered and
changed one by one, read, searched and paged, enabled, paused; the next fire time."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.jobs import JobState
from tickwork.domain.queries import (
    FAILING,
    FAILING_STATUSES,
    NEVER_RAN,
    SyncReport,
    TaskFilter,
    TaskKey,
    TaskPage,
    sort_task_keys,
)
from tickwork.domain.tasks import Task, TaskDefinition, TaskPause, TaskSource
from tickwork.errors import ConfigError, ConflictError
from tickwork.store import latest
from tickwork.store.activity import add_missed
from tickwork.store.backend import Backend
from tickwork.store.rows import pause_values, task_from_row, task_values
from tickwork.store.schema import PENDING_SQL, jobs, tasks

DELETED_REASON = "job definition deleted"
# SQLite allows a limited number of bound parameters per statement.
NAMES_PER_QUERY = 500


def sync(
    conn: Connection,
    backend: Backend,
    definitions: Sequence[TaskDefinition],
    sources: Sequence[TaskSource],
    next_fires: dict[str, datetime | None],
    now: datetime,
) -> SyncReport:
    """``Store.sync_tasks``."""
    report = SyncReport()
    previous = report.previous
    backend.lock_definitions(conn, shared=False)
    existing = {r["name"]: r for r in conn.execute(sa.select(tasks)).mappings().all()}
    wanted = {d.name for d in definitions}
    for defn in definitions:
        values = task_values(defn)
        old = existing.get(defn.name)
        if old is None:
            conn.execute(
                tasks.insert().values(
                    **values, next_fire_at=next_fires.get(defn.name), created_at=now, updated_at=now
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
        previous[defn.name] = task_from_row(old)
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
            previous[name] = task_from_row(old)
    return report


def add_missing(
    conn: Connection,
    backend: Backend,
    definitions: Sequence[TaskDefinition],
    next_fires: dict[str, datetime | None],
    now: datetime,
) -> list[str]:
    """``Store.add_missing_tasks``."""
    created: list[str] = []
    backend.lock_definitions(conn, shared=True)
    # In name order: two producers inserting the same new names wait for each other in the
    # same order instead of deadlocking.
    for defn in sorted(definitions, key=lambda d: d.name):
        stmt = (
            backend.insert(tasks)
            .values(
                **task_values(defn),
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


def get(conn: Connection, name: str) -> Task | None:
    row = _row(conn, name)
    return task_from_row(row) if row else None


def get_many(conn: Connection, names: Sequence[str]) -> list[Task]:
    found: list[Task] = []
    unique = sorted(set(names))
    for i in range(0, len(unique), NAMES_PER_QUERY):
        query = sa.select(tasks).where(tasks.c.name.in_(unique[i : i + NAMES_PER_QUERY]))
        found += [task_from_row(r) for r in conn.execute(query).mappings()]
    return found


def search(
    conn: Connection,
    backend: Backend,
    f: TaskFilter,
    now: datetime,
    after: str | None,
    offset: int,
    limit: int | None,
) -> TaskPage:
    """``Store.search_tasks``: the filter in SQL on the stored columns (the latest run's status
    from each task's stored entry, ``store/latest.py``). In name order, the page is read in SQL
    (code point order: ``sort_task_keys``' rule for names, after the keyset) and the selection
    counted apart; else the selection's keys are read and sorted by ``sort_task_keys``. Only
    the page's rows are read whole and decoded."""
    where = _conditions(backend, f, now)
    if f.sort == "name":
        return _page_by_name(conn, backend, where, after, offset, limit)
    if after is not None and f.sort != "name":
        raise ConfigError("a page after a name needs the name order", field="after")
    keyed = sa.select(tasks.c.name, tasks.c.next_fire_at, tasks.c.updated_at).where(*where)
    # all(): one fetch, not one per row (10,000 rows).
    keys = [TaskKey(*row) for row in conn.execute(keyed).all()]
    sort_task_keys(keys, f.sort)
    start = offset
    if after is not None:  # name order: Python's comparison of strings is the keyset's
        start += bisect.bisect_right([k.name for k in keys], after)
    end = None if limit is None else start + limit
    names = [k.name for k in keys[start:end]]
    found = {t.name: t for t in get_many(conn, names)}
    # A task removed between the two reads has no row: tasks are never deleted, so none is.
    page = [found[name] for name in names if name in found]
    return TaskPage(page, total=len(keys), more=end is not None and end < len(keys))


def _page_by_name(
    conn: Connection,
    backend: Backend,
    where: list[sa.ColumnElement[bool]],
    after: str | None,
    offset: int,
    limit: int | None,
) -> TaskPage:
    """A page in name order: the rows after ``after`` (one more than asked, to know whether
    more follow) and the selection's size, counted without reading its names."""
    name = backend.by_code_point(tasks.c.name)
    total = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(*where)).scalar()
    query = sa.select(tasks).where(*where).order_by(name)
    if after is not None:
        query = query.where(name > after)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit + 1)
    # all(): one fetch for the rows, not one call per row.
    rows = conn.execute(query).mappings().all()
    more = limit is not None and len(rows) > limit
    page = [task_from_row(r) for r in (rows[:limit] if more else rows)]
    return TaskPage(page, total=int(total or 0), more=more)


def _conditions(backend: Backend, f: TaskFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    """``TaskFilter``'s rules on the stored columns."""
    c = tasks.c
    where: list[sa.ColumnElement[bool]] = []
    if f.name is not None:
        where.append(c.name.icontains(f.name, autoescape=True))
    if f.tag is not None:
        where.append(backend.json_array_has(c.tags, f.tag))
    if f.kind is not None:
        where.append(c.kind == f.kind.value)
    if f.enabled is not None:
        where.append(c.enabled.is_(f.enabled))
    if f.removed is not None:
        where.append(c.removed_at.isnot(None) if f.removed else c.removed_at.is_(None))
    if f.paused is not None:
        # As ``TaskPause.active``: a pause whose end has come is none.
        paused = sa.and_(
            c.paused_at.isnot(None), sa.or_(c.pause_until.is_(None), c.pause_until > now)
        )
        where.append(paused if f.paused else sa.not_(paused))
    if f.last_status is not None:
        if f.last_status == NEVER_RAN:
            where.append(latest.never_ran(c.name))
        elif f.last_status == FAILING:
            where.append(latest.with_status(c.name, [s.value for s in FAILING_STATUSES]))
        else:
            where.append(latest.with_status(c.name, [f.last_status]))
    return where


def list_all(conn: Connection, include_removed: bool) -> list[Task]:
    query = sa.select(tasks).order_by(tasks.c.name)
    if not include_removed:
        query = query.where(tasks.c.removed_at.is_(None))
    return [task_from_row(r) for r in conn.execute(query).mappings()]


def set_enabled(
    conn: Connection, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
) -> Task | None:
    conn.execute(
        tasks.update()
        .where(tasks.c.name == name)
        .values(enabled=enabled, next_fire_at=next_fire_at, updated_at=now)
    )
    return get(conn, name)


def create(
    conn: Connection,
    definition: TaskDefinition,
    source: TaskSource,
    next_fire_at: datetime | None,
    now: datetime,
) -> Task:
    """``Store.create_task``."""
    conflict = ConflictError(f"a job named {definition.name!r} already exists")
    exists = conn.execute(sa.select(tasks.c.name).where(tasks.c.name == definition.name)).first()
    if exists is not None:
        raise conflict
    values = {**task_values(definition), "source": source.value}
    try:
        conn.execute(
            tasks.insert().values(
                **values, next_fire_at=next_fire_at, created_at=now, updated_at=now
            )
        )
    except sa.exc.IntegrityError:
        # Another transaction inserted the name between our check and our insert.
        raise conflict from None
    task = get(conn, definition.name)
    assert task is not None
    return task


def update(
    conn: Connection, definition: TaskDefinition, next_fire_at: datetime | None, now: datetime
) -> Task | None:
    """``Store.update_task``."""
    values = task_values(definition)
    values.pop("source")  # where a task is defined does not change with its definition
    conn.execute(
        tasks.update()
        .where(tasks.c.name == definition.name)
        .values(**values, next_fire_at=next_fire_at, updated_at=now)
    )
    return get(conn, definition.name)


def remove(conn: Connection, backend: Backend, name: str, now: datetime) -> Task | None:
    """``Store.remove_task``."""
    row = _row(conn, name, lock=backend.lock_rows)
    if row is None:
        return None
    conn.execute(
        tasks.update()
        .where(tasks.c.name == name)
        # Removing twice keeps the first removal time.
        .values(removed_at=row["removed_at"] or now, next_fire_at=None, updated_at=now)
    )
    # Running jobs finish: stopping work midway is what cancel is for.
    conn.execute(
        jobs.update()
        .where(jobs.c.task_name == name, jobs.c.state.in_(PENDING_SQL))
        .values(state=JobState.CANCELLED.value, finished_at=now, last_error=DELETED_REASON)
    )
    return get(conn, name)


def firing() -> sa.ColumnElement[bool]:
    """The tasks whose schedule fires: enabled, not removed, with a next fire time."""
    return sa.and_(
        tasks.c.enabled.is_(True),
        tasks.c.removed_at.is_(None),
        tasks.c.next_fire_at.isnot(None),
    )


def unpaused(horizon: datetime) -> sa.ColumnElement[bool]:
    """The tasks not paused at ``horizon``: never paused, or their pause over by then. (The
    SQLite scheduler's statement spells the same condition out: ``sqlite.queue.DUE_SQL``.)"""
    return sa.or_(tasks.c.paused_at.is_(None), tasks.c.pause_until <= horizon)


def next_fire_time(conn: Connection) -> datetime | None:
    """When the scheduler has something to do next: the earliest fire of a task not paused,
    or, of a paused one, its stored next fire or the end of its pause, whichever is later (a
    pause without an end wakes nobody). Two index walks: the first not paused task in
    ``next_fire_at`` order, and the paused tasks alone (``ix_tickwork_tasks_paused``)."""
    first = (
        sa.select(tasks.c.next_fire_at)
        .where(firing(), tasks.c.paused_at.is_(None))
        .order_by(tasks.c.next_fire_at)
        .limit(1)
    )
    later = sa.case(
        (tasks.c.pause_until > tasks.c.next_fire_at, tasks.c.pause_until),
        else_=tasks.c.next_fire_at,
    )
    paused = sa.select(sa.func.min(later).label("at")).where(
        tasks.c.paused_at.isnot(None), tasks.c.pause_until.isnot(None), firing()
    )
    first_sq = first.subquery()
    both = sa.union_all(sa.select(first_sq.c.next_fire_at.label("at")), paused).subquery()
    value: datetime | None = conn.execute(sa.select(sa.func.min(both.c.at))).scalar()
    return value


def pause(conn: Connection, name: str, pause: TaskPause) -> Task | None:
    """``Store.pause_task``."""
    conn.execute(tasks.update().where(tasks.c.name == name).values(**pause_values(pause)))
    return get(conn, name)


def resume(
    conn: Connection,
    name: str,
    paused_at: datetime,
    next_fire_at: datetime | None,
    missed: Sequence[NewMissedFire],
    now: datetime,
) -> Task | None:
    """``Store.resume_task``."""
    ended = conn.execute(
        tasks.update()
        .where(tasks.c.name == name, tasks.c.paused_at == paused_at)
        .values(**pause_values(None), next_fire_at=next_fire_at)
    )
    if ended.rowcount and missed:
        add_missed(conn, missed, now)
    return get(conn, name)


def _row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = sa.select(tasks).where(tasks.c.name == name)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()
