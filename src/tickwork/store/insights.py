"""What the insights read besides the rollups (``domain.insights.Surroundings``), in one read
on one connection: the due jobs, the processors, the run-time control, missed fires and since
when failing tasks fail, each the store's own query for it (one store thread and one
connection instead of five; on SQLite one snapshot)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from tickwork.domain.insights import Surroundings
from tickwork.store import control, jobs, processors, rollups


def surroundings(
    conn: Connection, now: datetime, failing: Sequence[str], start: datetime, end: datetime
) -> Surroundings:
    """``Store.insight_surroundings``."""
    due_now, oldest = jobs.due_jobs(conn, now)
    return Surroundings(
        due_now=due_now,
        oldest_due_at=oldest,
        processors=processors.list_all(conn),
        max_concurrent_jobs=control.get(conn).max_concurrent_jobs,
        missed=rollups.missed_fire_counts(conn, start, end),
        failing_since=rollups.failing_since(conn, failing) if failing else {},
    )
