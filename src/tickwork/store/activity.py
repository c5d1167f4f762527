"""Run events and missed fires in SQL (Core, both dialects), and the one statement that records
missed fires inside a fire transaction (raw SQLite and Core PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.activity import (
    MissedCount,
    MissedFire,
    MissedFireQuery,
    MissedReason,
    NewMissedFire,
    NewRunEvent,
    OutputTrim,
    RunEvent,
    RunEventKind,
    RunEventQuery,
)
from tickwork.store.rows import CORE, Codec, TableMap, columns
from tickwork.store.schema import missed_fires, run_events

RUN_EVENTS = TableMap(run_events, RunEvent, {"kind": RunEventKind})
MISSED_FIRES = TableMap(missed_fires, MissedFire, {"reason": MissedReason})
_event_from_row = RUN_EVENTS.mapper()
_missed_from_row = MISSED_FIRES.mapper()

# A missed fire; a skipped job written for the same fire (overlap) is linked by its unique
# (task, fire time): ``:job_fire_at`` is NULL for fires without one. Named parameters, so that
# both raw sqlite3 and SQLAlchemy's ``text`` take it.
INSERT_MISSED_SQL = """
INSERT INTO tickwork_missed_fires (task_name, fire_at, reason, detail, recorded_at, job_id)
VALUES (:task_name, :fire_at, :reason, :detail, :recorded_at,
        (SELECT id FROM tickwork_jobs WHERE task_name = :job_task AND fire_at = :job_fire_at))
"""


def missed_params(m: NewMissedFire, now: datetime, codec: Codec = CORE) -> dict[str, Any]:
    """A missed fire's parameters for ``INSERT_MISSED_SQL``."""
    fire_at = codec.encode_time(m.fire_at)
    return {
        "task_name": m.task_name,
        "fire_at": fire_at,
        "reason": m.reason.value,
        "detail": m.detail,
        "recorded_at": codec.encode_time(now),
        "job_task": m.task_name,  # named apart: PostgreSQL types each parameter once
        "job_fire_at": fire_at if m.skipped_job else None,
    }


def add_missed(conn: Connection, fires: Sequence[NewMissedFire], now: datetime) -> None:
    """``Store.add_missed_fires``; also what a Core fire transaction calls."""
    if fires:
        stmt = sa.text(INSERT_MISSED_SQL).bindparams(
            sa.bindparam("fire_at", type_=missed_fires.c.fire_at.type),
            sa.bindparam("recorded_at", type_=missed_fires.c.recorded_at.type),
            sa.bindparam("job_fire_at", type_=missed_fires.c.fire_at.type),
        )
        conn.execute(stmt, [missed_params(m, now) for m in fires])


def add_events(
    conn: Connection, events: Sequence[NewRunEvent], trims: Sequence[OutputTrim] = ()
) -> None:
    """``Store.add_run_events``: one multi-row insert, IDs ascending in the given order, then
    the trims of output pieces (after: a live attempt's newest pieces include the new ones)."""
    if events:
        _insert_events(conn, events)
    if trims:
        trim_output(conn, trims)


def _insert_events(conn: Connection, events: Sequence[NewRunEvent]) -> None:
    conn.execute(
        run_events.insert(),
        [
            {
                "job_id": e.job_id,
                "attempt": e.attempt,
                "task_name": e.task_name,
                "kind": e.kind.value,
                "at": e.at,
                "message": e.message,
                "done": e.done,
                "total": e.total,
                "data": e.data,
            }
            for e in events
        ],
    )


def trim_output(conn: Connection, trims: Sequence[OutputTrim]) -> None:
    """``Store.add_run_events``' trims: an attempt's output pieces but its newest ``keep``."""
    for t in trims:
        mine = sa.and_(
            run_events.c.job_id == t.job_id,
            run_events.c.attempt == t.attempt,
            run_events.c.kind == RunEventKind.OUTPUT.value,
        )
        if t.keep > 0:
            oldest_kept = conn.execute(
                sa.select(run_events.c.id)
                .where(mine)
                .order_by(run_events.c.id.desc())
                .offset(t.keep - 1)
                .limit(1)
            ).scalar()
            if oldest_kept is None:
                continue
            mine = sa.and_(mine, run_events.c.id < oldest_kept)
        conn.execute(sa.delete(run_events).where(mine))


def query_events(conn: Connection, q: RunEventQuery) -> list[RunEvent]:
    """``Store.query_run_events``: oldest first unless ``newest_first``."""
    stmt = sa.select(*columns(RUN_EVENTS))
    if q.job_id is not None:
        stmt = stmt.where(run_events.c.job_id == q.job_id)
        if q.attempt is not None:
            stmt = stmt.where(run_events.c.attempt == q.attempt)
    if q.kind is not None:
        stmt = stmt.where(run_events.c.kind == q.kind.value)
    elif not q.with_output:
        stmt = stmt.where(run_events.c.kind != RunEventKind.OUTPUT.value)
    if q.after_id is not None:
        stmt = stmt.where(run_events.c.id > q.after_id)
    order = run_events.c.id.desc() if q.newest_first else run_events.c.id
    stmt = stmt.order_by(order).limit(q.limit)
    return [_event_from_row(r) for r in conn.execute(stmt)]


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(run_events.c.id))).scalar() or 0)


def _missed_where(q: MissedFireQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if q.task_name is not None:
        where.append(missed_fires.c.task_name == q.task_name)
    if q.since is not None:
        where.append(missed_fires.c.recorded_at >= q.since)
    if q.reasons:
        where.append(missed_fires.c.reason.in_([r.value for r in q.reasons]))
    if q.fire_from is not None:
        where.append(missed_fires.c.fire_at >= q.fire_from)
    if q.fire_to is not None:
        where.append(missed_fires.c.fire_at <= q.fire_to)
    return where


def query_missed(conn: Connection, q: MissedFireQuery) -> list[MissedFire]:
    """``Store.query_missed_fires``."""
    stmt = sa.select(*columns(MISSED_FIRES)).where(*_missed_where(q))
    if q.before_id is not None:
        stmt = stmt.where(missed_fires.c.id < q.before_id)
    if q.after_id is not None:
        stmt = stmt.where(missed_fires.c.id > q.after_id).order_by(missed_fires.c.id)
    else:
        stmt = stmt.order_by(missed_fires.c.id.desc())
    return [_missed_from_row(r) for r in conn.execute(stmt.limit(q.limit))]


def count_missed(conn: Connection, q: MissedFireQuery) -> list[MissedCount]:
    """``Store.count_missed_fires``: by task and reason, sorted by task then reason."""
    stmt = (
        sa.select(
            missed_fires.c.task_name,
            missed_fires.c.reason,
            sa.func.count(),
            sa.func.max(missed_fires.c.fire_at),
        )
        .where(*_missed_where(q))
        .group_by(missed_fires.c.task_name, missed_fires.c.reason)
    )
    counts = [
        MissedCount(task, MissedReason(reason), int(n), last)
        for task, reason, n, last in conn.execute(stmt)
    ]
    # Sorted here: the database's collation may order names differently from Python.
    return sorted(counts, key=lambda c: (c.task_name, c.reason.value))


def last_missed_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(missed_fires.c.id))).scalar() or 0)
