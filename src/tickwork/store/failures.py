"""Failures in SQL (Core, both dialects): the failed and timed-out jobs of a range with their
last run's error, and the acknowledged failures per fingerprint (``domain/failures.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.failures import FailedJob
from tickwork.domain.jobs import JobState
from tickwork.store.backend import Backend
from tickwork.store.jobs import in_states
from tickwork.store.schema import FAILED_SQL, failure_acks, jobs, runs

# Job IDs per statement when their last runs are looked up (well under every driver's limit).
_CHUNK = 500


def failed_jobs(
    conn: Connection, start: datetime, end: datetime, task_name: str | None, limit: int
) -> list[FailedJob]:
    """``Store.failed_jobs``: a range of ``ix_tickwork_jobs_failed`` (newest first, at most
    ``limit``), then each job's last run by ``ix_tickwork_runs_job``."""
    j = jobs.c
    stmt = sa.select(j.id, j.task_name, j.state, j.finished_at, j.last_error).where(
        in_states(FAILED_SQL),  # written into the statement: SQLite then uses the index
        j.finished_at >= start,
        j.finished_at < end,
    )
    if task_name is not None:
        stmt = stmt.where(j.task_name == task_name)
    found = conn.execute(stmt.order_by(j.finished_at.desc(), j.id.desc()).limit(limit)).all()
    last = _last_runs(conn, [row.id for row in found])
    failed = []
    for row in found:
        run = last.get(row.id)
        failed.append(
            FailedJob(
                job_id=row.id,
                task_name=row.task_name,
                state=JobState(row.state),
                finished_at=row.finished_at,
                run_id=None if run is None else run.id,
                error_type=None if run is None else run.error_type,
                error_class=None if run is None else run.error_class,
                message=row.last_error
                if run is None or not run.error_message
                else run.error_message,
                traceback=None if run is None else run.traceback,
            )
        )
    return failed


def _last_runs(conn: Connection, job_ids: Sequence[int]) -> dict[int, Any]:
    r = runs.c
    last: dict[int, Any] = {}
    for i in range(0, len(job_ids), _CHUNK):
        chunk = job_ids[i : i + _CHUNK]
        newest = sa.select(sa.func.max(r.id)).where(r.job_id.in_(chunk)).group_by(r.job_id)
        stmt = sa.select(
            r.id, r.job_id, r.error_type, r.error_class, r.error_message, r.traceback
        ).where(r.id.in_(newest))
        for row in conn.execute(stmt):
            last[row.job_id] = row
    return last


def acknowledged(conn: Connection, fingerprints: Sequence[str]) -> dict[str, datetime]:
    """``Store.failure_acks``."""
    a = failure_acks.c
    found: dict[str, datetime] = {}
    for i in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[i : i + _CHUNK]
        stmt = sa.select(a.fingerprint, a.acknowledged_until).where(a.fingerprint.in_(chunk))
        found.update({fp: until for fp, until in conn.execute(stmt)})
    return found


def acknowledge(
    conn: Connection,
    backend: Backend,
    fingerprint: str,
    until: datetime,
    now: datetime,
    by: str,
) -> None:
    """``Store.acknowledge_failures``: an acknowledgement only moves forward in time."""
    a = failure_acks.c
    insert = backend.insert(failure_acks)
    later = sa.case(
        (a.acknowledged_until > insert.excluded.acknowledged_until, a.acknowledged_until),
        else_=insert.excluded.acknowledged_until,
    )
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[a.fingerprint],
            set_={
                "acknowledged_until": later,
                "acknowledged_at": insert.excluded.acknowledged_at,
                "acknowledged_by": insert.excluded.acknowledged_by,
            },
        ),
        {
            "fingerprint": fingerprint,
            "acknowledged_until": until,
            "acknowledged_at": now,
            "acknowledged_by": by,
        },
    )
