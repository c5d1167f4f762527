"""Rendering domain objects for the terminal: JSON-able dicts and rich tables.

rich is imported only to build and print a table: commands that print none do not load it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from tickwork.domain.jobs import Job, Run
    from tickwork.domain.tasks import Task
    from tickwork.service import ProcessorStatus


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_dict(task: Task) -> dict[str, Any]:
    from tickwork.domain.tasks import target_to_dict

    d = task.definition
    return {
        "name": d.name,
        "kind": d.kind.value,
        "target": target_to_dict(d.target),
        "schedule": d.schedule,
        "timezone": d.timezone,
        "timeout_seconds": d.timeout_seconds,
        "max_retries": d.retry.max_retries,
        "backoff": {
            "base_seconds": d.retry.base_seconds,
            "factor": d.retry.factor,
            "cap_seconds": d.retry.cap_seconds,
            "jitter": d.retry.jitter,
        },
        "enabled": d.enabled,
        "removed": task.removed,
        "description": d.description,
        "priority": d.priority,
        "tags": list(d.tags),
        "source": d.source.value,
        "next_fire_at": iso(task.next_fire_at),
        "last_fire_at": iso(task.last_fire_at),
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
    }


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "task": job.task_name,
        "state": job.state.value,
        "args": job.args,
        "kwargs": job.kwargs,
        "priority": job.priority,
        "key": job.key,
        "scheduled_at": iso(job.scheduled_at),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "triggered_by": job.triggered_by.value,
        "fire_at": iso(job.fire_at),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "worker_id": job.worker_id,
        "last_error": job.last_error,
    }


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "task": run.task_name,
        "attempt": run.attempt,
        "status": run.status.value,
        "triggered_by": run.triggered_by.value,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_seconds": round(run.duration_seconds, 6),
        "worker_id": run.worker_id,
        "error_type": run.error_type,
        "error_class": run.error_class.value if run.error_class else None,
        "error_message": run.error_message,
        "traceback": run.traceback,
        "exit_code": run.exit_code,
        "output": run.output,
        "result": run.result,
    }


def processor_dict(status: ProcessorStatus) -> dict[str, Any]:
    p = status.info
    return {
        "id": p.id,
        "role": p.role,
        "state": status.state,
        "running_jobs": status.running_jobs,
        "host": p.host,
        "pid": p.pid,
        "version": p.version,
        "started_at": iso(p.started_at),
        "heartbeat_at": iso(p.heartbeat_at),
        "stopped_at": iso(p.stopped_at),
    }


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def new_table(*headers: str) -> Table:
    from rich.table import Table

    return Table(*headers)


def show(table: Table) -> None:
    from rich.console import Console

    Console().print(table)


def tasks_table(tasks: list[Task]) -> Table:
    table = new_table("name", "kind", "schedule", "enabled", "next fire (UTC)", "description")
    for t in tasks:
        d = t.definition
        enabled = "removed" if t.removed else ("yes" if d.enabled else "no")
        schedule = f"{d.schedule} ({d.timezone})" if d.schedule else "-"
        table.add_row(
            d.name, d.kind.value, schedule, enabled, short_time(t.next_fire_at), d.description
        )
    return table


def runs_table(runs: list[Run]) -> Table:
    table = new_table("run", "job", "attempt", "status", "by", "started (UTC)", "duration", "error")
    for r in runs:
        error = f"{r.error_type}: {r.error_message}" if r.error_type else ""
        table.add_row(
            str(r.id),
            str(r.job_id),
            str(r.attempt),
            r.status.value,
            r.triggered_by.value,
            short_time(r.started_at),
            f"{r.duration_seconds:.3f}s",
            error[:80],
        )
    return table


def jobs_table(jobs: list[Job]) -> Table:
    table = new_table("id", "task", "state", "attempt", "by", "scheduled (UTC)", "last error")
    for j in jobs:
        table.add_row(
            str(j.id),
            j.task_name,
            j.state.value,
            f"{j.attempt}/{j.max_attempts}",
            j.triggered_by.value,
            short_time(j.scheduled_at),
            (j.last_error or "")[:60],
        )
    return table


def processors_table(processors: list[ProcessorStatus]) -> Table:
    table = new_table(
        "processor", "role", "state", "running jobs", "started (UTC)", "heartbeat (UTC)", "version"
    )
    for status in processors:
        p = status.info
        state = status.state
        if p.stopped_at is not None:
            state = f"stopped {short_time(p.stopped_at)}"
        table.add_row(
            p.id,
            p.role,
            state,
            str(status.running_jobs),
            short_time(p.started_at),
            short_time(p.heartbeat_at),
            p.version,
        )
    return table
