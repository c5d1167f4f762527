"""Live events on the wire (``GET /api/events``, Server-Sent Events): which events of the
core feed (``tickwork.service.events``) a caller may see, and how each one is written.

An event's SSE id is the feed's cursor after it (``<runs>-<jobs>-<audit>-<run events>-<missed
fires>``; the three-part ids of earlier versions are accepted); a client that reconnects with
``Last-Event-ID`` gets what it missed replayed by the feed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tickwork.domain.access import AuditEntry, Principal, Scope
from tickwork.domain.jobs import Job, Run
from tickwork.service.events import (
    FIRE_MISSED,
    JOB_CHANGED,
    JOB_CREATED,
    PROCESSOR_DOWN,
    PROCESSOR_UP,
    RUN_EVENT,
    RUN_FINISHED,
    RUN_OUTPUT,
    RUN_PROGRESS,
    RUN_STARTED,
    Event,
    EventFilter,
    ProcessorChange,
    RunStart,
)
from tickwork.service.queries import MissedFire, RunEvent
from tickwork.wire import missed_fire_out, run_event_out, run_out

# The events a stream sends, and the scope a caller needs to see each.
EVENT_SCOPES: dict[str, Scope] = {
    RUN_STARTED: Scope.JOBS_READ,
    RUN_FINISHED: Scope.JOBS_READ,
    JOB_CREATED: Scope.JOBS_READ,
    JOB_CHANGED: Scope.JOBS_READ,
    PROCESSOR_UP: Scope.JOBS_READ,
    PROCESSOR_DOWN: Scope.JOBS_READ,
    RUN_PROGRESS: Scope.JOBS_READ,
    RUN_EVENT: Scope.JOBS_READ,
    RUN_OUTPUT: Scope.JOBS_READ,
    FIRE_MISSED: Scope.JOBS_READ,
}


def visible_to(principal: Principal) -> EventFilter:
    """The events a stream of ``principal`` sends: those its scopes allow. Audit entries about
    users, tokens and settings (``audit.recorded``) are not for every reader: never sent."""

    def accepts(event: Event) -> bool:
        scope = EVENT_SCOPES.get(event.type)
        return scope is not None and principal.allows(scope)

    return accepts


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def job_created_data(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "task": job.task_name,
        "state": job.state.value,
        "scheduled_at": _iso(job.scheduled_at),
        "priority": job.priority,
        "key": job.key,
        "triggered_by": job.triggered_by.value,
    }


def run_started_data(start: RunStart) -> dict[str, Any]:
    return {
        "job_id": start.job_id,
        "task": start.task_name,
        "attempt": start.attempt,
        "worker_id": start.worker_id,
    }


def run_finished_data(run: Run) -> dict[str, Any]:
    """The run as ``GET /api/runs`` lists it, its ``id`` named ``run_id``."""
    fields = run_out(run).model_dump(mode="json", exclude={"id"})
    return {"run_id": run.id, **fields}


def job_changed_data(entry: AuditEntry) -> dict[str, Any]:
    return {
        "audit_id": entry.id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "actor": entry.actor,
        "request_id": entry.request_id,
    }


def processor_data(change: ProcessorChange) -> dict[str, Any]:
    info = change.info
    return {
        "id": info.id,
        "role": info.role,
        "host": info.host,
        "pid": info.pid,
        "state": change.state,
        "heartbeat_at": _iso(info.heartbeat_at),
    }


def event_data(event: Event) -> dict[str, Any]:
    subject = event.subject
    if isinstance(subject, Job):
        return job_created_data(subject)
    if isinstance(subject, RunStart):
        return run_started_data(subject)
    if isinstance(subject, Run):
        return run_finished_data(subject)
    if isinstance(subject, AuditEntry):
        return job_changed_data(subject)
    if isinstance(subject, RunEvent):
        # As GET /api/jobs/{id}/events lists it, its ``id`` named ``event_id``.
        fields = run_event_out(subject).model_dump(mode="json", exclude={"id"})
        return {"event_id": subject.id, **fields}
    if isinstance(subject, MissedFire):
        fields = missed_fire_out(subject).model_dump(mode="json", exclude={"id"})
        return {"missed_id": subject.id, **fields}
    return processor_data(subject)


def payload(event: Event) -> dict[str, Any]:
    return {"type": event.type, "at": event.at.isoformat(), "data": event_data(event)}


def sse(event: Event) -> str:
    body = json.dumps(payload(event), separators=(",", ":"), default=str)
    return f"id: {event.cursor.encode()}\nevent: {event.type}\ndata: {body}\n\n"
