"""The API's shared request and response models, and their conversions from domain types.

Responses are built from domain objects here, once, so every route shows a job, a run or a
definition the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickwork.domain.access import ApiToken, AuditEntry, User
from tickwork.domain.admission import Hold
from tickwork.domain.jobs import Job, Run, RunStatus
from tickwork.domain.tasks import Task
from tickwork.errors import ConfigError

T = TypeVar("T")
# IDs are 64-bit in the store: larger ones cannot exist (and would not fit a query).
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
CursorParam = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
]
LimitParam = Annotated[int, Query(ge=1, le=1000, description="Items per page (1..1000).")]


def reject_nul(value: Any, field: str = "") -> Any:
    """``value`` unchanged, once no string in it (keys included) holds a NUL character, which
    PostgreSQL cannot store: bad input, not a store failure."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError("must not contain NUL characters", field=field or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, field)
            reject_nul(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_nul(item, f"{field}[{index}]")
    return value


class StrictIn(BaseModel):
    """Request bodies: an unknown field is an error naming it, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


# --- definitions ("jobs") --------------------------------------------------------------------
class JobOut(BaseModel):
    name: str
    kind: str
    schedule: str | None
    timezone: str
    description: str
    tags: list[str]
    enabled: bool
    removed: bool
    source: str
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_run_status: str | None = Field(
        None, description="The status of its most recent run; null if it never ran."
    )
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any] = Field(
        description="The definition as a [[jobs]] table of tickwork.toml (what POST takes)."
    )


class JobPage(BaseModel):
    items: list[JobOut]
    page: int
    limit: int
    total: int


def job_out(task: Task, table: dict[str, Any], last_run_status: RunStatus | None = None) -> JobOut:
    d = task.definition
    return JobOut(
        name=d.name,
        kind=d.kind.value,
        schedule=d.schedule,
        timezone=d.timezone,
        description=d.description,
        tags=list(d.tags),
        enabled=d.enabled,
        removed=task.removed,
        source=d.source.value,
        next_fire_at=task.next_fire_at,
        last_fire_at=task.last_fire_at,
        last_run_status=None if last_run_status is None else last_run_status.value,
        created_at=task.created_at,
        updated_at=task.updated_at,
        definition=table,
    )


class FireOut(BaseModel):
    fire_at: datetime
    runs_at: datetime = Field(description="The fire time, or the next opening of its calendar.")


# --- queued jobs -------------------------------------------------------------------------------
class QueueJobOut(BaseModel):
    id: int
    task: str
    state: str
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    key: str | None
    unique_key: str | None
    scheduled_at: datetime
    attempt: int
    max_attempts: int
    triggered_by: str
    fire_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    lease_expires_at: datetime | None
    last_error: str | None


def queue_job_out(job: Job) -> QueueJobOut:
    return QueueJobOut(
        id=job.id,
        task=job.task_name,
        state=job.state.value,
        args=list(job.args),
        kwargs=dict(job.kwargs),
        priority=job.priority,
        key=job.key,
        unique_key=job.unique_key,
        scheduled_at=job.scheduled_at,
        attempt=job.attempt,
        max_attempts=job.max_attempts,
        triggered_by=job.triggered_by.value,
        fire_at=job.fire_at,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        worker_id=job.worker_id,
        lease_expires_at=job.lease_expires_at,
        last_error=job.last_error,
    )


class HoldOut(BaseModel):
    policy: str
    detail: str
    until: datetime | None
    message: str


def hold_out(hold: Hold | None) -> HoldOut | None:
    if hold is None:
        return None
    return HoldOut(policy=hold.policy, detail=hold.detail, until=hold.until, message=str(hold))


class TriggeredOut(BaseModel):
    job_id: int
    job: QueueJobOut


# --- runs ----------------------------------------------------------------------------------------
class RunOut(BaseModel):
    id: int
    job_id: int
    task: str
    attempt: int
    status: str
    triggered_by: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    worker_id: str | None
    error_type: str | None
    error_class: str | None
    error_message: str | None
    exit_code: int | None


class RunDetailOut(RunOut):
    output: str | None
    traceback: str | None
    result: Any
    metrics: dict[str, Any] | None


def _run_fields(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "task": run.task_name,
        "attempt": run.attempt,
        "status": run.status.value,
        "triggered_by": run.triggered_by.value,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "worker_id": run.worker_id,
        "error_type": run.error_type,
        "error_class": None if run.error_class is None else run.error_class.value,
        "error_message": run.error_message,
        "exit_code": run.exit_code,
    }


def run_out(run: Run) -> RunOut:
    return RunOut(**_run_fields(run))


def run_detail_out(run: Run) -> RunDetailOut:
    return RunDetailOut(
        **_run_fields(run),
        output=run.output,
        traceback=run.traceback,
        result=run.result,
        metrics=run.metrics,
    )


class QueueJobDetailOut(BaseModel):
    job: QueueJobOut
    runs: list[RunOut]
    held: HoldOut | None = Field(description="Why a pending job is not running now, if held.")


# --- pages -------------------------------------------------------------------------------------
class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = Field(
        description="Pass as `cursor` (`before_id` for the queue) for the next page; null"
        " when this page was not full (a full last page is followed by an empty one)."
    )


# --- audit ---------------------------------------------------------------------------------------
class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


def audit_out(entry: AuditEntry) -> AuditOut:
    return AuditOut(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target_type=entry.target_type,
        target=entry.target,
        before=entry.before,
        after=entry.after,
        request_id=entry.request_id,
    )


# --- users and tokens ----------------------------------------------------------------------------
class UserOut(BaseModel):
    id: int
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    disabled: bool


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role.value,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
        disabled=user.disabled_at is not None,
    )


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The bearer token; shown only in this response.")


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(**_token_fields(token))


def _token_fields(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user_name,
        "name": token.name,
        "scopes": sorted(s.value for s in token.scopes),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def token_created_out(token: ApiToken, secret: str) -> TokenCreatedOut:
    return TokenCreatedOut(**_token_fields(token), token=secret)
