"""Auto-rescheduling's overrides in SQL, both dialects: the pass's lock key (once for the
cluster), the overrides of many tasks in one statement, the states of trial runs' jobs, and an
override written with its audit entry in one transaction (``AutoScheduling``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.autoschedule import Override, OverrideWrite
from tickwork.store import audit
from tickwork.store.backend import Backend
from tickwork.store.rows import OVERRIDE_COLUMNS, override_of, override_values
from tickwork.store.schema import jobs, tasks

# pg_try_advisory_lock key of auto-rescheduling passes ("tw-autos" as an integer).
AUTOSCHEDULE_LOCK_KEY = 0x74772D6175746F73


_CHANGED = sa.or_(
    tasks.c.auto_stride != 1,
    tasks.c.auto_offset_seconds != 0,
    tasks.c.auto_breaker.is_not(None),
)


def overrides(conn: Connection, backend: Backend, names: Sequence[str]) -> dict[str, Override]:
    """``Store.auto_overrides``."""
    each = backend.each_name(names)
    stmt = sa.select(tasks.c.name, *(tasks.c[c] for c in OVERRIDE_COLUMNS)).where(
        tasks.c.name.in_(sa.select(each.c.value)), _CHANGED
    )
    return {row[0]: override_of(row[1:]) for row in conn.execute(stmt)}


def job_states(conn: Connection, job_ids: Sequence[int]) -> dict[int, str]:
    """``Store.job_states``."""
    stmt = sa.select(jobs.c.id, jobs.c.state).where(jobs.c.id.in_(list(job_ids)))
    return {int(i): str(state) for i, state in conn.execute(stmt)}


def write(conn: Connection, writes: Sequence[OverrideWrite]) -> list[bool]:
    """``Store.write_overrides`` inside the caller's transaction."""
    applied: list[bool] = []
    for w in writes:
        changed_at = tasks.c.auto_changed_at
        same = (
            changed_at.is_(None)
            if w.expected.changed_at is None
            else changed_at == w.expected.changed_at
        )
        result = conn.execute(
            tasks.update()
            .where(tasks.c.name == w.name, tasks.c.removed_at.is_(None), same)
            .values(**override_values(w.override), next_fire_at=w.next_fire_at)
        )
        ok = result.rowcount == 1
        if ok:
            audit.add(conn, w.entry)
        applied.append(ok)
    return applied
