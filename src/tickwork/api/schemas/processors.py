"""Processor control over the API: control state, status, queue, health, reset, run-time config.

Request bodies keep the seed API's field names (``timeoutMinutes``, ``batchSize``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tickwork.api.schemas.common import MAX_MINUTES, FiniteFloat
from tickwork.api.schemas.status import status_out
from tickwork.domain.jobs import Job
from tickwork.service.analytics import Health
from tickwork.service.queries import ControlState, QueueStats
from tickwork.service.status import Status
from tickwork.wire import ProcessorOut


class ControlOut(BaseModel):
    """Cluster-wide control every worker follows; null settings mean each process's own."""

    paused: bool
    batch_size: int | None
    max_concurrent_jobs: int | None
    default_timeout_seconds: float | None
    updated_at: datetime | None
    updated_by: str | None


def control_out(state: ControlState) -> ControlOut:
    return ControlOut(
        paused=state.paused,
        batch_size=state.batch_size,
        max_concurrent_jobs=state.max_concurrent_jobs,
        default_timeout_seconds=state.default_timeout_seconds,
        updated_at=state.updated_at,
        updated_by=state.updated_by,
    )


# ``/api/status`` (``StatusOut``) and the control state.
class CronStatusOut(BaseModel):
    version: str
    jobs_by_state: dict[str, int]
    processors: list[ProcessorOut]
    control: ControlOut


def cron_status_out(status: Status, control: ControlState) -> CronStatusOut:
    return CronStatusOut(**status_out(status).model_dump(), control=control_out(control))


class QueueStatsOut(BaseModel):
    by_state: dict[str, int]
    due_now: int
    oldest_due_at: datetime | None
    expired_leases: int


def queue_out(stats: QueueStats) -> QueueStatsOut:
    return QueueStatsOut(
        by_state={s.value: n for s, n in sorted(stats.by_state.items())},
        due_now=stats.due_now,
        oldest_due_at=stats.oldest_due_at,
        expired_leases=stats.expired_leases,
    )


class ProcessorLoad(BaseModel):
    processor_id: str
    state: str
    running_jobs: int


class CronQueueOut(BaseModel):
    queue: QueueStatsOut
    running_by_processor: list[ProcessorLoad]


class HealthDetailOut(BaseModel):
    status: str  # healthy, degraded, unhealthy
    reasons: list[str]
    checked_at: datetime
    queue: QueueStatsOut | None  # null when the store is unreachable
    processors: dict[str, int]  # processor state -> how many


def health_out(health: Health) -> HealthDetailOut:
    return HealthDetailOut(
        status=health.status,
        reasons=health.reasons,
        checked_at=health.checked_at,
        queue=None if health.queue is None else queue_out(health.queue),
        processors=health.processors,
    )


class ProcessNowOut(BaseModel):
    due_jobs: int  # pending jobs due now, which awake workers claim at once
    woke_local_worker: bool  # this process runs a worker and it was woken


class ResetStuckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeoutMinutes: float = Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)  # the seed API's names


# A reset job in brief; ``tickwork reset-stuck --json`` prints each in full (``wire``).
class JobBrief(BaseModel):
    id: int
    task: str
    state: str
    attempt: int
    max_attempts: int
    last_error: str | None


def job_brief(job: Job) -> JobBrief:
    return JobBrief(
        id=job.id,
        task=job.task_name,
        state=job.state.value,
        attempt=job.attempt,
        max_attempts=job.max_attempts,
        last_error=job.last_error,
    )


class ResetStuckOut(BaseModel):
    reset: int
    jobs: list[JobBrief]


class ConfigIn(BaseModel):
    """Absent: unchanged; null: back to each process's own setting."""

    model_config = ConfigDict(extra="forbid")
    batchSize: int | None = Field(default=None, strict=True)
    concurrency: int | None = Field(default=None, strict=True)
    # Seconds, or a duration such as "30s", "5m".
    timeout: FiniteFloat | str | None = None
