"""How both adapters show a job's pause, a queued job, a run, a run's events, a missed fire, a
processor, a user, a token, an audit entry, a prune's report, run statistics (failures by error:
``wire_failures``; alerts: ``wire_alerts``; the weekly report: ``wire_report``).

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
from tickwork.domain.activity import MissedCount, MissedFire, RunEvent
from tickwork.domain.autoschedule import Override
from tickwork.domain.jobs import Job, Run
from tickwork.domain.retention import PruneReport
from tickwork.domain.tasks import TaskPause

if TYPE_CHECKING:
    from tickwork.domain.stats import TaskFigures, TrendPoint
    from tickwork.service.stats import StatsReport
    from tickwork.service.status import ProcessorStatus


class Shape(BaseModel):
    """A shape both adapters show."""

    # Validators are built on first use: a CLI command shows one kind of object, and building
    # all of them when the module loads would cost it ~15 ms.
    model_config = ConfigDict(defer_build=True)


# --- a job definition's pause --------------------------------------------------------------------
class PauseOut(Shape):
    paused_at: datetime
    paused_by: str
    reason: str
    until: datetime | None = Field(description="When it resumes by itself; null: when resumed.")


def pause_out(pause: TaskPause | None) -> PauseOut | None:
    if pause is None:
        return None
    return PauseOut(
        paused_at=pause.paused_at, paused_by=pause.paused_by, reason=pause.reason, until=pause.until
    )


class AutoOut(Shape):
    """What auto-rescheduling changed of a job's schedule (its definition is unchanged)."""

    effective: str = Field(description='The change in words, e.g. "every 2nd fire, 42s later".')
    stride: int = Field(description="Fires of the defined schedule per fire (2: every other).")
    offset_seconds: int = Field(description="Added to each fire (spread).")
    breaker: str = Field(description="closed, open (auto-disabled) or half_open (a trial run).")
    breaker_at: datetime | None
    probe_job_id: int | None = Field(description="The half-open breaker's trial run.")
    changed_at: datetime | None


def auto_out(auto: Override) -> AutoOut | None:
    """None when the job's schedule is its definition's."""
    if not auto.active:
        return None
    return AutoOut(
        effective=auto.describe(),
        stride=auto.stride,
        offset_seconds=auto.offset_seconds,
        breaker=auto.breaker.value,
        breaker_at=auto.breaker_at,
        probe_job_id=auto.probe_job_id,
        changed_at=auto.changed_at,
    )


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
    requested_by: str | None = Field(
        description="The user, token or operator that queued or triggered it; null for "
        "schedule fires and programs"
    )
    backfill_id: int | None = Field(
        default=None, description="The backfill that created it (triggered_by backfill)"
    )
    released_by_run_id: int | None = Field(
        default=None,
        description="The upstream run whose end released it (the job's `after`); null for "
        "jobs not released by a dependency",
    )


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
        requested_by=job.requested_by,
        backfill_id=job.backfill_id,
        released_by_run_id=job.released_by_run_id,
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
    requested_by: str | None = Field(
        description="The user, token or operator that asked for the job; null for schedule "
        "fires and programs"
    )
    resource_scope: str | None = Field(
        description="Whose figures the resources are: `process` (the job's own process "
        "tree), `thread` (the worker thread that ran a sync task) or `worker` (an async "
        "task's share of the worker process, not its own figure); null if not measured"
    )
    cpu_seconds: float | None = Field(description="CPU time (user + system) in that scope")
    cpu_percent: float | None = Field(
        description="cpu_seconds over the measured wall time, x 100 (above 100: several cores)"
    )
    peak_memory_mb: float | None = Field(
        description="Peak resident memory of the process tree (scope `process` only)"
    )


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
        "requested_by": run.requested_by,
        "resource_scope": None if run.resource_scope is None else run.resource_scope.value,
        "cpu_seconds": run.cpu_seconds,
        "cpu_percent": run.cpu_percent,
        "peak_memory_mb": run.peak_memory_mb,
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


# --- what runs tell, what did not run -----------------------------------------------------------
class RunEventOut(Shape):
    id: int
    job_id: int
    attempt: int
    task: str
    kind: str  # progress | event
    at: datetime
    message: str | None
    done: float | None
    total: float | None
    data: dict[str, Any] | None


def run_event_out(e: RunEvent) -> RunEventOut:
    return RunEventOut(
        id=e.id,
        job_id=e.job_id,
        attempt=e.attempt,
        task=e.task_name,
        kind=e.kind.value,
        at=e.at,
        message=e.message,
        done=e.done,
        total=e.total,
        data=e.data,
    )


class MissedFireOut(Shape):
    id: int
    task: str
    fire_at: datetime
    reason: str  # overlap, misfire, no_scheduler, calendar, disabled, paused
    detail: str | None
    recorded_at: datetime
    job_id: int | None


def missed_fire_out(m: MissedFire) -> MissedFireOut:
    return MissedFireOut(
        id=m.id,
        task=m.task_name,
        fire_at=m.fire_at,
        reason=m.reason.value,
        detail=m.detail,
        recorded_at=m.recorded_at,
        job_id=m.job_id,
    )


class MissedCountOut(Shape):
    task: str
    total: int
    by_reason: dict[str, int]
    last_fire_at: datetime


def missed_counts_out(counts: list[MissedCount]) -> list[MissedCountOut]:
    """Counts by task and reason → one entry per task (sorted by name) with its reasons."""
    by_task: dict[str, MissedCountOut] = {}
    for c in counts:
        entry = by_task.get(c.task_name)
        if entry is None:
            entry = by_task[c.task_name] = MissedCountOut(
                task=c.task_name, total=0, by_reason={}, last_fire_at=c.last_fire_at
            )
        entry.total += c.count
        entry.by_reason[c.reason.value] = c.count
        entry.last_fire_at = max(entry.last_fire_at, c.last_fire_at)
    return [by_task[name] for name in sorted(by_task)]


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


# --- run statistics (``tickwork stats``, ``GET /api/stats``) ------------------------------------
class TaskFiguresOut(Shape):
    task: str  # "*" for every task together
    runs: int
    by_status: dict[str, int]
    succeeded: int
    failed: int  # failed, timeout and cancelled
    success_rate: float | None  # succeeded / (succeeded + failed)
    avg_duration_seconds: float | None
    p50_duration_seconds: float | None
    p95_duration_seconds: float | None
    p99_duration_seconds: float | None
    max_duration_seconds: float | None
    wait_p50_seconds: float | None  # due → start
    wait_p95_seconds: float | None
    slow_runs: int
    slow_threshold_seconds: float | None


def task_figures_out(f: TaskFigures) -> TaskFiguresOut:
    d, w = f.durations, f.waits
    return TaskFiguresOut(
        task=f.task_name,
        runs=f.runs,
        by_status=f.by_status,
        succeeded=f.succeeded,
        failed=f.failed,
        success_rate=f.success_rate,
        avg_duration_seconds=d.avg,
        p50_duration_seconds=d.quantile(0.5),
        p95_duration_seconds=d.quantile(0.95),
        p99_duration_seconds=d.quantile(0.99),
        max_duration_seconds=d.max,
        wait_p50_seconds=w.quantile(0.5),
        wait_p95_seconds=w.quantile(0.95),
        slow_runs=f.slow_runs,
        slow_threshold_seconds=f.slow_threshold_seconds,
    )


class TrendOut(Shape):
    start: datetime
    runs: int
    succeeded: int
    failed: int
    avg_duration_seconds: float | None


def _trend(points: list[TrendPoint]) -> list[TrendOut]:
    return [
        TrendOut(
            start=p.start,
            runs=p.runs,
            succeeded=p.succeeded,
            failed=p.failed,
            avg_duration_seconds=p.avg_duration_seconds,
        )
        for p in points
    ]


class PeakHourOut(Shape):
    hour: int  # UTC hour of day
    runs: int


class KeyFiguresOut(Shape):
    task: str
    key: str
    runs: int
    succeeded: int
    failed: int
    success_rate: float | None


class ErrorClassOut(Shape):
    error_class: str
    count: int


class ErrorGroupOut(Shape):
    task: str
    fingerprint: str
    error_type: str | None
    error_class: str | None
    message: str | None  # one sample
    frame: str | None  # "file:function" of the top stack frame
    count: int


class StatsOut(Shape):
    start: datetime  # as asked
    end: datetime
    period_seconds: int  # the rollups read: 60 (ranges under 6 h), 3600 (under 3 days), 86400
    first_bucket: datetime  # the start rounded down to the period: what the figures cover
    by: str | None  # the one view asked for (day, hour, key, error), or None for all
    key: str | None  # with a key filter: counts only (no durations, waits or errors)
    overall: TaskFiguresOut
    tasks: list[TaskFiguresOut]
    daily: list[TrendOut]
    hourly: list[TrendOut]  # ranges of 3 days or more: with by=hour only
    peak_hours: list[PeakHourOut]
    keys: list[KeyFiguresOut]
    errors_by_class: list[ErrorClassOut]
    errors: list[ErrorGroupOut]


def stats_out(report: StatsReport, by: str | None = None) -> StatsOut:
    """The figures of a report; with ``by``, only that view's list besides the per-task ones."""

    def shown(view: str) -> bool:
        return by is None or by == view

    return StatsOut(
        start=report.start,
        end=report.end,
        period_seconds=report.period_seconds,
        first_bucket=report.first_bucket,
        by=by,
        key=report.key,
        overall=task_figures_out(report.overall),
        tasks=[task_figures_out(f) for f in report.tasks],
        daily=_trend(report.daily) if shown("day") else [],
        hourly=_trend(report.hourly) if shown("hour") else [],
        peak_hours=[PeakHourOut(hour=h, runs=n) for h, n in report.peak_hours]
        if shown("hour")
        else [],
        keys=[
            KeyFiguresOut(
                task=k.task_name,
                key=k.key,
                runs=k.runs,
                succeeded=k.succeeded,
                failed=k.failed,
                success_rate=k.success_rate,
            )
            for k in report.keys
        ]
        if shown("key")
        else [],
        errors_by_class=[ErrorClassOut(error_class=c, count=n) for c, n in report.errors_by_class]
        if shown("error")
        else [],
        errors=[
            ErrorGroupOut(
                task=g.task_name,
                fingerprint=g.fingerprint,
                error_type=g.error_type,
                error_class=g.error_class,
                message=g.message,
                frame=g.frame,
                count=g.count,
            )
            for g in report.errors
        ]
        if shown("error")
        else [],
    )
