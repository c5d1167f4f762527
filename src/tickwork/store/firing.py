"""Firing due schedules: one path for every dialect, over the statements of each (``FireSql``).

In one transaction the due schedules are read and locked (each dialect its own way), the
requirements of those that have some are checked (``with_requirements``), the planner (pure)
decides each fire, the schedules advance, overlap=replace cancels what the fire
replaces, the fired jobs are created once per (task, fire time), and the fires that did not
become runs are recorded (``tickwork_missed_fires``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.dependencies import UpstreamOn
from tickwork.domain.jobs import NewJob
from tickwork.domain.queries import DueSchedule, Fire, FirePlanner

REPLACED = "replaced by a newer fire (overlap=replace)"


class FireSql(Protocol):
    """A dialect's statements for firing, inside its transaction."""

    def due(self, horizon: datetime, limit: int) -> list[DueSchedule]:
        """Up to ``limit`` schedules due by ``horizon``, earliest first (then by name), locked
        for this transaction: another scheduler does not get them. Each with its task's active
        jobs counted (``schema.ACTIVE_FOR_OVERLAP``)."""
        ...

    def advance(self, fires: Sequence[Fire]) -> None:
        """Each fire's schedule to its ``next_fire_at``; ``last_fire_at`` the fire's time."""

    def replace_active(self, task_name: str, now: datetime, horizon: datetime, reason: str) -> None:
        """Cancel the task's pending active jobs (``reason``) and ask its running ones to stop."""

    def insert_once(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        """Create the jobs, each (task, fire_at) pair once; the IDs of those created, ascending."""
        ...

    def record_missed(self, missed: Sequence[NewMissedFire], now: datetime) -> None:
        """Write the missed fires, after the jobs (a skipped job is linked to its fire's row)."""

    def notify(self) -> None:
        """Tell other processes' workers that jobs were made (at commit)."""

    def requirement_met(self, task_name: str, on: UpstreamOn, since: datetime) -> bool:
        """Whether ``task_name`` has a final run that ``on`` counts, finished at or after
        ``since`` (``dependencies.requirement_sql``)."""
        ...


def with_requirements(sql: FireSql, due: DueSchedule) -> DueSchedule:
    """``due`` with its ``requires`` that do not hold at its fire (``DueSchedule.unmet``)."""
    unmet: list[str] = []
    for req in due.policies.requires:
        since = req.window_start(due.next_fire_at, due.timezone)
        if not sql.requirement_met(req.job, req.on, since):
            unmet.append(f"{req.describe()} ({since.astimezone(UTC).isoformat()})")
    return dataclasses.replace(due, unmet=tuple(unmet)) if unmet else due


def fire_due(
    sql: FireSql, now: datetime, horizon: datetime, limit: int, plan: FirePlanner
) -> tuple[int, list[int]]:
    """``Store.fire_due`` inside the caller's transaction."""
    due = sql.due(horizon, limit)
    if not due:
        return 0, []
    due = [with_requirements(sql, d) if d.policies.requires else d for d in due]
    fires = [plan(d) for d in due]
    sql.advance(fires)
    for f in fires:
        if f.cancel_active:
            sql.replace_active(f.task_name, now, horizon, REPLACED)
    new_jobs = [j for f in fires for j in (f.job, *f.extra_jobs) if j is not None]
    created = sql.insert_once(new_jobs, now) if new_jobs else []
    missed = [m for f in fires for m in f.missed]
    if missed:
        sql.record_missed(missed, now)
    if created:
        sql.notify()
    return len(due), created
