"""Rows with chosen times for the retention tests, written straight into the tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tickwork.store import schema

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def job(job_id: int, task: str, state: str, finished_days: float | None) -> dict[str, Any]:
    finished = None if finished_days is None else days_ago(finished_days)
    created = days_ago((finished_days or 0) + 1)
    return {
        "id": job_id,
        "task_name": task,
        "state": state,
        "args": [],
        "kwargs": {},
        "priority": 0,
        "scheduled_at": created,
        "attempt": 1,
        "max_attempts": 3,
        "triggered_by": "api",
        "created_at": created,
        "finished_at": finished,
    }


def run(run_id: int, job_id: int, task: str, started_days: float) -> dict[str, Any]:
    started = days_ago(started_days)
    return {
        "id": run_id,
        "job_id": job_id,
        "task_name": task,
        "attempt": 1,
        "status": "succeeded",
        "triggered_by": "api",
        "started_at": started,
        "finished_at": started + timedelta(seconds=1),
        "duration_seconds": 1.0,
    }


def event(event_id: int, job_id: int, task: str, at_days: float) -> dict[str, Any]:
    return {
        "id": event_id,
        "job_id": job_id,
        "attempt": 1,
        "task_name": task,
        "kind": "event",
        "at": days_ago(at_days),
        "message": "hello",
    }


def audit(entry_id: int, at_days: float) -> dict[str, Any]:
    return {
        "id": entry_id,
        "at": days_ago(at_days),
        "actor": "cli:test",
        "action": "job.trigger",
        "target_type": "job",
        "target": "a",
    }


def missed(fire_id: int, recorded_days: float) -> dict[str, Any]:
    at = days_ago(recorded_days)
    return {"id": fire_id, "task_name": "a", "fire_at": at, "reason": "overlap", "recorded_at": at}


def rollup(period: int, start: datetime) -> dict[str, Any]:
    return {
        "task_name": "a",
        "period_seconds": period,
        "bucket_start": start,
        "measure": "duration",
        "status": "succeeded",
        "bucket": 3,
        "count": 1,
        "total": 1.0,
    }


def series_rollup(period: int, start: datetime) -> dict[str, Any]:
    return {
        "period_seconds": period,
        "bucket_start": start,
        "task_name": "a",
        "status": "succeeded",
        "count": 1,
        "total": 1.0,
    }


def key_rollup(start: datetime, period: int = 3600) -> dict[str, Any]:
    return {
        "period_seconds": period,
        "bucket_start": start,
        "task_name": "a",
        "key": "k",
        "status": "succeeded",
        "count": 1,
    }


def error_rollup(start: datetime, period: int = 3600) -> dict[str, Any]:
    return {
        "period_seconds": period,
        "bucket_start": start,
        "task_name": "a",
        "fingerprint": "f" * 16,
        "count": 1,
    }


def transition(
    transition_id: int, rule: str, subject: str, at_days: float, to: str = "firing"
) -> dict[str, Any]:
    return {
        "id": transition_id,
        "rule": rule,
        "subject": subject,
        "at": days_ago(at_days),
        "from_status": "ok" if to == "firing" else "firing",
        "to_status": to,
        "why": "",
        "sent": [],
        "channels": [],
        "job_ids": [],
        "version": transition_id,
    }


def alert_state(
    rule: str, subject: str, status: str, changed_days: float, announced_days: float | None = None
) -> dict[str, Any]:
    return {
        "rule": rule,
        "subject": subject,
        "status": status,
        "changed_at": days_ago(changed_days),
        "why": "",
        "announced": status == "firing",
        "announced_since": None if announced_days is None else days_ago(announced_days),
        "last_notice_at": None,
        "flips": [],
        "flapping": False,
        "acked_by": None,
        "acked_at": None,
        "muted_until": None,
        "version": 1,
        "updated_at": NOW,
    }


def ping(ping_id: int, check_uuid: str, at_days: float) -> dict[str, Any]:
    return {
        "id": ping_id,
        "check_uuid": check_uuid,
        "kind": "success",
        "at": days_ago(at_days),
        "exit_status": None,
        "rid": None,
        "method": "GET",
        "remote_addr": "",
        "user_agent": "",
        "body": "",
        "body_bytes": 0,
        "duration_seconds": None,
    }


def insert(engine: sa.Engine, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


def ids(engine: sa.Engine, table: sa.Table) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id)).scalars())


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def bucket_starts(engine: sa.Engine, table: sa.Table, *where: Any) -> set[datetime]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.bucket_start).where(*where)).scalars())


__all__ = ["NOW", "schema"]
