"""How both adapters show a queued job, a run, a processor, a user, a token, an audit entry and a
prune's report.

One pydantic model per domain object, built from it by one function: the REST API returns the
model (its OpenAPI document describes it), the CLI's ``--json`` prints its fields
(``cli.render.shown``: times as ISO 8601). Shapes only one adapter shows stay with it (the
API's in ``api/schemas/``, the CLI's definition view in ``cli/render.py``). Plain pydantic, no
FastAPI: the CLI imports this module, when a command makes a dict of one of these objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tickwork.domain.access import ApiToken, AuditEntry, User
from tickwork.domain.jobs import Job, Run
from tickwork.domain.retention import PruneReport

if TYPE_CHECKING:
    from tickwork.service.status import ProcessorStatus


class Shape(BaseModel):
    """A shape both adapters show."""

    # Validators are built on first use: a CLI command shows one kind of object, and building
    # all of them when the module loads would cost it ~15 ms.
    model_config = ConfigDict(defer_build=True)


# --- queued jobs -------------------------------------------------------------------------------
class QueueJobOut(Shape):
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


# --- runs --------------------------------------------------------------------------------------
class RunOut(Shape):
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
    """A run as lists show it: without its output, traceback, result and metrics."""
    return RunOut(**_run_fields(run))


def run_detail_out(run: Run) -> RunDetailOut:
    return RunDetailOut(
        **_run_fields(run),
        output=run.output,
        traceback=run.traceback,
        result=run.result,
        metrics=run.metrics,
    )


# --- processors --------------------------------------------------------------------------------
class ProcessorOut(Shape):
    id: str
    role: str
    host: str
    pid: int
    version: str
    state: str  # running, lost (missed heartbeats), stopped
    running_jobs: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


def processor_out(p: ProcessorStatus) -> ProcessorOut:
    return ProcessorOut(
        id=p.info.id,
        role=p.info.role,
        host=p.info.host,
        pid=p.info.pid,
        version=p.info.version,
        state=p.state,
        running_jobs=p.running_jobs,
        started_at=p.info.started_at,
        heartbeat_at=p.info.heartbeat_at,
        stopped_at=p.info.stopped_at,
    )


# --- users, tokens, audit entries --------------------------------------------------------------
class UserOut(Shape):
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


class TokenOut(Shape):
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


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(**_token_fields(token))


def token_created_out(token: ApiToken, secret: str) -> TokenCreatedOut:
    return TokenCreatedOut(**_token_fields(token), token=secret)


class AuditOut(Shape):
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


# --- retention ---------------------------------------------------------------------------------
class PruneOut(Shape):
    dry_run: bool
    # Another process was pruning (PostgreSQL): this call removed nothing.
    skipped: bool
    # Rows removed (a dry run: that would be) by kind, in pruning order.
    removed: dict[str, int]
    total: int
    batches: int
    seconds: float


def prune_out(report: PruneReport) -> PruneOut:
    return PruneOut(
        dry_run=report.dry_run,
        skipped=report.skipped,
        removed=dict(report.counts),
        total=report.total,
        batches=report.batches,
        seconds=round(report.seconds, 3),
    )
