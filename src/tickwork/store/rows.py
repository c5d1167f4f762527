"""Mapping between table rows and domain types, in one place for both dialects."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tickwork.domain.access import ApiToken, AuditEntry, NewAuditEntry, Role, Scope, User
from tickwork.domain.admission import restricts_claims
from tickwork.domain.jobs import Completion, ErrorClass, Job, JobState, Run, RunStatus, TriggeredBy
from tickwork.domain.limits import policies_from_dict, policies_to_dict
from tickwork.domain.tasks import (
    RetryPolicy,
    Task,
    TaskDefinition,
    TaskSource,
    target_from_dict,
    target_to_dict,
)
from tickwork.store.base import ControlState, ProcessorInfo


def task_values(defn: TaskDefinition) -> dict[str, Any]:
    """The columns of ``tickwork_tasks`` that come from a definition."""
    r = defn.retry
    return {
        "name": defn.name,
        "kind": defn.kind.value,
        "target": target_to_dict(defn.target),
        "schedule": defn.schedule,
        "timezone": defn.timezone,
        "timeout_seconds": defn.timeout_seconds,
        "max_retries": r.max_retries,
        # The retry policy beyond max_retries: the backoff, and which failures retry.
        "backoff": {
            "base": r.base_seconds,
            "factor": r.factor,
            "cap": r.cap_seconds,
            "jitter": r.jitter,
            "retry_on": list(r.retry_on),
            "no_retry_on": list(r.no_retry_on),
            "max_interruptions": r.max_interruptions,
        },
        "enabled": defn.enabled,
        "description": defn.description,
        "priority": defn.priority,
        "tags": list(defn.tags),
        "args": list(defn.args),
        "kwargs": dict(defn.kwargs),
        "source": defn.source.value,
        "policies": policies_to_dict(defn.policies),
        "claim_limited": restricts_claims(defn.policies),
    }


def task_from_row(row: Mapping[str, Any]) -> Task:
    b = row["backoff"]
    defn = TaskDefinition(
        name=row["name"],
        target=target_from_dict(row["target"]),
        schedule=row["schedule"],
        timezone=row["timezone"],
        timeout_seconds=row["timeout_seconds"],
        retry=RetryPolicy(
            max_retries=row["max_retries"],
            base_seconds=b["base"],
            factor=b["factor"],
            cap_seconds=b["cap"],
            jitter=b["jitter"],
            # Absent in rows written before these existed.
            retry_on=tuple(b.get("retry_on") or ()),
            no_retry_on=tuple(b.get("no_retry_on") or ()),
            max_interruptions=max_interruptions_of(b),
        ),
        enabled=bool(row["enabled"]),
        description=row["description"],
        priority=row["priority"],
        tags=tuple(row["tags"]),
        args=tuple(row["args"]),
        kwargs=dict(row["kwargs"]),
        source=TaskSource(row["source"]),
        policies=policies_from_dict(row["policies"]),
    )
    return Task(
        definition=defn,
        removed=row["removed_at"] is not None,
        next_fire_at=row["next_fire_at"],
        last_fire_at=row["last_fire_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def max_interruptions_of(backoff: Mapping[str, Any]) -> int | None:
    """A task's own ``max_interruptions`` from its stored retry policy (None: the default)."""
    value = backoff.get("max_interruptions")  # absent in rows written before it existed
    return None if value is None else int(value)


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        task_name=row["task_name"],
        state=JobState(row["state"]),
        args=row["args"],
        kwargs=row["kwargs"],
        priority=row["priority"],
        key=row["key"],
        unique_key=row["unique_key"],
        scheduled_at=row["scheduled_at"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        triggered_by=TriggeredBy(row["triggered_by"]),
        fire_at=row["fire_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        last_error=row["last_error"],
    )


def run_from_row(row: Mapping[str, Any]) -> Run:
    return Run(
        id=row["id"],
        job_id=row["job_id"],
        task_name=row["task_name"],
        attempt=row["attempt"],
        status=RunStatus(row["status"]),
        triggered_by=TriggeredBy(row["triggered_by"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        error_type=row["error_type"],
        error_class=ErrorClass(row["error_class"]) if row["error_class"] else None,
        error_message=row["error_message"],
        traceback=row["traceback"],
        exit_code=row["exit_code"],
        output=row["output"],
        result=row["result"],
        metrics=row["metrics"],
    )


def run_values(c: Completion) -> dict[str, Any]:
    o = c.outcome
    return {
        "job_id": c.job_id,
        "task_name": c.task_name,
        "attempt": c.attempt,
        "status": o.status.value,
        "triggered_by": c.triggered_by.value,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "duration_seconds": max((c.finished_at - c.started_at).total_seconds(), 0.0),
        "worker_id": c.worker_id,
        "error_type": o.error_type,
        "error_class": o.error_class.value if o.error_class else None,
        "error_message": o.error_message,
        "traceback": o.traceback,
        "exit_code": o.exit_code,
        "output": o.output,
        "result": o.result,
        "metrics": o.metrics,
    }


def interrupted_run_values(job: Job, now: datetime, reason: str) -> dict[str, Any]:
    started = job.started_at or now
    return {
        "job_id": job.id,
        "task_name": job.task_name,
        "attempt": job.attempt,
        "status": RunStatus.INTERRUPTED.value,
        "triggered_by": job.run_triggered_by.value,
        "started_at": started,
        "finished_at": now,
        "duration_seconds": max((now - started).total_seconds(), 0.0),
        "worker_id": job.worker_id,
        "error_type": "Interrupted",
        "error_class": None,
        "error_message": reason,
        "traceback": None,
        "exit_code": None,
        "output": None,
        "result": None,
        "metrics": None,
    }


def processor_from_row(row: Mapping[str, Any]) -> ProcessorInfo:
    return ProcessorInfo(
        id=row["id"],
        role=row["role"],
        host=row["host"],
        pid=row["pid"],
        version=row["version"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        stopped_at=row["stopped_at"],
    )


# --- accounts, audit, control ------------------------------------------------------------------
def user_from_row(row: Mapping[str, Any]) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def token_from_row(row: Mapping[str, Any], user_name: str) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_id=row["user_id"],
        user_name=user_name,
        name=row["name"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A before/after snapshot as plain JSON (times and enums as strings), so an audit entry
    never fails to be written over a value the JSON column cannot take."""
    if value is None:
        return None
    safe: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return safe


def audit_values(entry: NewAuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "before": json_safe(entry.before),
        "after": json_safe(entry.after),
        "request_id": entry.request_id,
    }


def audit_from_row(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target_type=row["target_type"],
        target=row["target"],
        before=row["before"],
        after=row["after"],
        request_id=row["request_id"],
    )


# The fields of ControlState kept as rows of tickwork_control (one row per field).
CONTROL_FIELDS = ("paused", "batch_size", "max_concurrent_jobs", "default_timeout_seconds")


def control_from_rows(found: Sequence[Mapping[str, Any]]) -> ControlState:
    """The control state of its rows; absent rows keep the defaults. The newest row's time and
    author stand for the whole state."""
    values: dict[str, Any] = {}
    latest: Mapping[str, Any] | None = None
    for row in found:
        if row["name"] in CONTROL_FIELDS:
            values[row["name"]] = row["value"]
        if latest is None or row["updated_at"] > latest["updated_at"]:
            latest = row
    return ControlState(
        paused=bool(values.get("paused", False)),
        batch_size=values.get("batch_size"),
        max_concurrent_jobs=values.get("max_concurrent_jobs"),
        default_timeout_seconds=values.get("default_timeout_seconds"),
        updated_at=latest["updated_at"] if latest is not None else None,
        updated_by=latest["updated_by"] if latest is not None else None,
    )
