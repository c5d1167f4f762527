"""Processor control under ``/api/cron``: pause/resume, process due work now, status, health,
queue figures, run metrics and insights, reset stuck jobs, run-time config, and the webhook.

Routes parse, call one use case (``Control``, ``Analytics``, ``Service``) and render."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tickwork.api.deps import (
    TRIGGER_SECRET,
    WEBHOOK,
    authenticate,
    get_context,
    require,
    secret_matches,
    service_for,
)
from tickwork.api.errors import ApiError
from tickwork.api.routes.health import status_out
from tickwork.domain.access import Principal, Scope
from tickwork.domain.durations import parse_duration
from tickwork.domain.jobs import Job, TriggeredBy
from tickwork.errors import ConfigError, ForbiddenError
from tickwork.service.analytics import Health, Insights
from tickwork.service.jobs import EnqueueRequest
from tickwork.service.queries import ControlState, QueueStats, RunStats
from tickwork.wire import ProcessorOut

router = APIRouter(prefix="/api/cron", tags=["processor"])

Reader = Annotated[Principal, Depends(require(Scope.JOBS_READ))]
Controller = Annotated[Principal, Depends(require(Scope.PROCESSOR))]
# Metrics and insights cover the last day unless told otherwise.
DEFAULT_WINDOW = timedelta(days=1)
# ``Control.configure`` field -> the name callers of PUT /api/cron/config use.
CONFIG_FIELDS = {
    "batch_size": "batchSize",
    "max_concurrent_jobs": "concurrency",
    "default_timeout_seconds": "timeout",
}
WEBHOOK_SECRET_HEADER = "x-webhook-secret"


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Durations beyond ten years are mistakes, and beyond what datetimes can add.
MAX_MINUTES = 10 * 365 * 24 * 60


# --- models ---------------------------------------------------------------------------------
class ControlOut(BaseModel):
    """Cluster-wide control every worker follows; null settings mean each process's own."""

    paused: bool
    batch_size: int | None
    max_concurrent_jobs: int | None
    default_timeout_seconds: float | None
    updated_at: datetime | None
    updated_by: str | None


class CronStatusOut(BaseModel):
    version: str
    jobs_by_state: dict[str, int]
    processors: list[ProcessorOut]
    control: ControlOut


class QueueStatsOut(BaseModel):
    by_state: dict[str, int]
    due_now: int
    oldest_due_at: datetime | None
    expired_leases: int


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


class TaskStatsOut(BaseModel):
    task: str
    runs: int
    succeeded: int
    failed: int  # failed, timeout and cancelled
    success_rate: float | None  # succeeded / (succeeded + failed); null without either
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    max_duration_seconds: float | None


class MetricsOut(BaseModel):
    start: datetime
    end: datetime
    tasks: list[TaskStatsOut]


class NearTimeoutOut(BaseModel):
    stats: TaskStatsOut
    timeout_seconds: float


class HourOut(BaseModel):
    hour: int  # UTC hour of day
    runs: int


class InsightsOut(BaseModel):
    start: datetime
    end: datetime
    always_failing: list[TaskStatsOut]
    near_timeout: list[NearTimeoutOut]
    busiest_hours: list[HourOut]
    slowest: list[TaskStatsOut]


class ProcessNowOut(BaseModel):
    due_jobs: int  # pending jobs due now, which awake workers claim at once
    woke_local_worker: bool  # this process runs a worker and it was woken


class ResetStuckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeoutMinutes: float = Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)  # the seed API's names


class JobBrief(BaseModel):
    id: int
    task: str
    state: str
    attempt: int
    max_attempts: int
    last_error: str | None


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


class WebhookIn(BaseModel):
    """``job`` (trigger that defined job now), ``task`` (enqueue a job of it), or neither
    (process due jobs now, as ``POST /api/cron/trigger`` does)."""

    model_config = ConfigDict(extra="forbid")
    secret: str | None = None
    job: str | None = None
    task: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    delay: FiniteFloat | str | None = None  # seconds or "30s"


class WebhookOut(BaseModel):
    action: str  # "trigger", "enqueue", or "process" (due jobs now)
    job_id: int | None = None  # the job triggered or enqueued
    task: str | None = None
    due_jobs: int | None = None  # "process": pending jobs due now, which awake workers claim


# --- rendering ------------------------------------------------------------------------------
def control_out(state: ControlState) -> ControlOut:
    return ControlOut(
        paused=state.paused,
        batch_size=state.batch_size,
        max_concurrent_jobs=state.max_concurrent_jobs,
        default_timeout_seconds=state.default_timeout_seconds,
        updated_at=state.updated_at,
        updated_by=state.updated_by,
    )


def queue_out(stats: QueueStats) -> QueueStatsOut:
    return QueueStatsOut(
        by_state={s.value: n for s, n in sorted(stats.by_state.items())},
        due_now=stats.due_now,
        oldest_due_at=stats.oldest_due_at,
        expired_leases=stats.expired_leases,
    )


def stats_out(stats: RunStats) -> TaskStatsOut:
    decided = stats.succeeded + stats.failed
    return TaskStatsOut(
        task=stats.task_name,
        runs=stats.runs,
        succeeded=stats.succeeded,
        failed=stats.failed,
        success_rate=None if decided == 0 else stats.succeeded / decided,
        avg_duration_seconds=stats.avg_duration_seconds,
        p95_duration_seconds=stats.p95_duration_seconds,
        max_duration_seconds=stats.max_duration_seconds,
    )


def health_out(health: Health) -> HealthDetailOut:
    return HealthDetailOut(
        status=health.status,
        reasons=health.reasons,
        checked_at=health.checked_at,
        queue=None if health.queue is None else queue_out(health.queue),
        processors=health.processors,
    )


def insights_out(start: datetime, end: datetime, insights: Insights) -> InsightsOut:
    return InsightsOut(
        start=start,
        end=end,
        always_failing=[stats_out(s) for s in insights.always_failing],
        near_timeout=[
            NearTimeoutOut(stats=stats_out(s), timeout_seconds=t) for s, t in insights.near_timeout
        ],
        busiest_hours=[HourOut(hour=h, runs=n) for h, n in insights.busiest_hours],
        slowest=[stats_out(s) for s in insights.slowest],
    )


def job_brief(job: Job) -> JobBrief:
    return JobBrief(
        id=job.id,
        task=job.task_name,
        state=job.state.value,
        attempt=job.attempt,
        max_attempts=job.max_attempts,
        last_error=job.last_error,
    )


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with a UTC offset, or a date (midnight UTC); None stays None."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"expected an ISO 8601 time like 2026-01-31T00:00:00Z or a date, got {value[:40]!r}",
            field=field,
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {text!r} has no UTC offset (add Z or +hh:mm)", field=field)
    return parsed.astimezone(UTC)


def time_window(request: Request, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """``[startDate, endDate)``; by default the day before ``endDate`` (default now)."""
    until = parse_time(end, "endDate") or get_context(request).clock.now()
    since = parse_time(start, "startDate") or until - DEFAULT_WINDOW
    if since >= until:
        raise ConfigError(
            f"must be before endDate ({until.isoformat()}), got {since.isoformat()}",
            field="startDate",
        )
    return since, until


def api_field(exc: ConfigError) -> ConfigError:
    """The same error with the field named as the caller wrote it."""
    if exc.field in CONFIG_FIELDS:
        return ConfigError(exc.reason, field=CONFIG_FIELDS[exc.field])
    return exc


# --- routes ---------------------------------------------------------------------------------
@router.post("/start", response_model=ControlOut)
async def start(request: Request, principal: Controller) -> ControlOut:
    """Resume processing: workers claim jobs again (``POST /api/cron/stop`` paused them)."""
    return control_out(await get_context(request).control.resume(actor=principal))


@router.post("/stop", response_model=ControlOut)
async def stop(request: Request, principal: Controller) -> ControlOut:
    """Pause processing in every worker of the store: no new claims; running jobs finish."""
    return control_out(await get_context(request).control.pause(actor=principal))


@router.get("/status", response_model=CronStatusOut)
async def cron_status(request: Request, principal: Reader) -> CronStatusOut:
    """Jobs by state, processors and the cluster-wide control state."""
    ctx = get_context(request)
    status_ = await ctx.service.status(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    base = status_out(status_)
    control = await ctx.control.get()
    return CronStatusOut(**base.model_dump(), control=control_out(control))


async def trigger_principal(request: Request) -> Principal:
    """Processor control, or the ``[api] trigger_secret`` of external schedulers."""
    principal = await authenticate(request, trigger_secret=True)
    if principal is not TRIGGER_SECRET and not principal.allows(Scope.PROCESSOR):
        raise ForbiddenError(f"{principal.name!r} lacks the scope {Scope.PROCESSOR.value!r}")
    return principal


@router.post("/trigger", response_model=ProcessNowOut)
async def process_now(
    request: Request, principal: Annotated[Principal, Depends(trigger_principal)]
) -> ProcessNowOut:
    """Process due jobs now: wakes this process's worker (if it runs one) and, on PostgreSQL,
    every idle worker (NOTIFY); returns how many jobs are due. Accepts the trigger secret."""
    ctx = get_context(request)
    due = await service_for(request, principal).process_now()
    return ProcessNowOut(due_jobs=due, woke_local_worker=ctx.notify is not None)


@router.get("/health", response_model=HealthDetailOut)
async def cron_health(request: Request, principal: Reader) -> HealthDetailOut:
    """healthy / degraded / unhealthy with the reasons (stuck jobs, lost processors, backlog,
    paused, no live worker while jobs are due, store unreachable)."""
    ctx = get_context(request)
    health = await ctx.analytics.health(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    return health_out(health)


@router.get("/queue", response_model=CronQueueOut)
async def cron_queue(request: Request, principal: Reader) -> CronQueueOut:
    """Jobs by state, due now, the oldest due, expired leases; running jobs per processor."""
    ctx = get_context(request)
    stats = await ctx.service.queue_stats()
    status_ = await ctx.service.status(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    loads = [
        ProcessorLoad(processor_id=p.info.id, state=p.state, running_jobs=p.running_jobs)
        for p in status_.processors
        if p.running_jobs or p.state == "running"
    ]
    loads += [
        ProcessorLoad(processor_id=worker, state="unknown", running_jobs=n)
        for worker, n in status_.unregistered.items()
    ]
    return CronQueueOut(queue=queue_out(stats), running_by_processor=loads)


StartQ = Annotated[
    str | None,
    Query(alias="startDate", description="ISO 8601 time or date (UTC); default endDate - 1 day"),
]
EndQ = Annotated[
    str | None, Query(alias="endDate", description="ISO 8601 time or date (UTC); default now")
]


@router.get("/metrics", response_model=MetricsOut)
async def cron_metrics(
    request: Request,
    principal: Reader,
    start: StartQ = None,
    end: EndQ = None,
    task: Annotated[str | None, Query(alias="jobType", description="only this job")] = None,
) -> MetricsOut:
    """Per task over ``[startDate, endDate)``: runs, success rate, average and p95 duration."""
    start_at, end_at = time_window(request, start, end)
    stats = await get_context(request).analytics.metrics(start_at, end_at, task)
    return MetricsOut(start=start_at, end=end_at, tasks=[stats_out(s) for s in stats])


@router.get("/insights", response_model=InsightsOut)
async def cron_insights(
    request: Request, principal: Reader, start: StartQ = None, end: EndQ = None
) -> InsightsOut:
    """Tasks that always fail, run close to their timeout, the slowest, and the busiest hours."""
    start_at, end_at = time_window(request, start, end)
    insights = await get_context(request).analytics.insights(start_at, end_at)
    return insights_out(start_at, end_at, insights)


@router.post("/reset-stuck-jobs", response_model=ResetStuckOut)
async def reset_stuck_jobs(
    request: Request, body: ResetStuckIn, principal: Controller
) -> ResetStuckOut:
    """Put jobs running for longer than ``timeoutMinutes`` back in the queue (or fail them when
    no attempts are left), as if their worker had died."""
    service = service_for(request, principal)
    try:
        jobs = await service.reset_stuck(body.timeoutMinutes * 60)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field="timeoutMinutes") from None
    return ResetStuckOut(reset=len(jobs), jobs=[job_brief(j) for j in jobs])


@router.put("/config", response_model=ControlOut)
async def put_config(request: Request, body: ConfigIn, principal: Controller) -> ControlOut:
    """Change batch size, concurrency and the default timeout (seconds) of every worker while
    they run; a field given as null goes back to each process's own setting."""
    given = body.model_fields_set
    if not given:
        raise ConfigError("give at least one of batchSize, concurrency, timeout", field="body")
    clear = frozenset(
        name for name, api in CONFIG_FIELDS.items() if api in given and getattr(body, api) is None
    )
    timeout = None
    if body.timeout is not None:
        timeout = parse_duration(body.timeout, field="timeout")
    try:
        state = await get_context(request).control.configure(
            batch_size=body.batchSize,
            max_concurrent_jobs=body.concurrency,
            default_timeout_seconds=timeout,
            clear=clear,
            actor=principal,
        )
    except ConfigError as exc:
        raise api_field(exc) from None
    return control_out(state)


@router.post(
    "/webhook",
    response_model=WebhookOut,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": WebhookIn.model_json_schema()}},
        },
        "parameters": [
            {
                "name": "X-Webhook-Secret",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the [api] webhook_secret (or send it as the body's 'secret')",
            }
        ],
    },
)
async def webhook(request: Request) -> WebhookOut:
    """For other systems: with the ``[api] webhook_secret`` (header ``X-Webhook-Secret`` or
    body field ``secret``), ``{"job": name}`` triggers a defined job now, ``{"task": name,
    "args", "kwargs", "delay"}`` enqueues a job of it, and the secret alone (no body, or only
    ``secret``) processes due jobs now, as ``POST /api/cron/trigger`` does (``action``
    ``process``, with ``due_jobs``). The secret is checked before the body."""
    ctx = get_context(request)
    expected = ctx.settings.webhook_secret
    if not expected:
        raise ApiError(404, "not_found", "the webhook is off: set [api] webhook_secret to use it")
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}  # no body: the secret alone
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_request", f"request body is not valid JSON: {exc}") from None
    header = request.headers.get(WEBHOOK_SECRET_HEADER)
    body_secret = data.get("secret") if isinstance(data, dict) else None
    given = header if header is not None else body_secret
    if not secret_matches(given if isinstance(given, str) else None, expected):
        raise ApiError(401, "unauthorized", "missing or wrong webhook secret")
    try:
        body = WebhookIn.model_validate(data)
    except ValidationError as exc:
        raise _validation(exc) from None
    service = service_for(request, WEBHOOK)
    if body.job is not None and body.task is not None:
        raise ConfigError("give either 'job' (to trigger) or 'task' (to enqueue)", field="job")
    if body.job is None and body.task is None:
        extra = [f for f in ("args", "kwargs", "delay") if getattr(body, f) is not None]
        if extra:
            raise ConfigError("applies to an enqueue: give 'task' too", field=extra[0])
        return WebhookOut(action="process", due_jobs=await service.process_now())
    if body.job is not None:
        job_id = await service.trigger(body.job, triggered_by=TriggeredBy.WEBHOOK)
        return WebhookOut(action="trigger", job_id=job_id, task=body.job)
    assert body.task is not None
    delay = None if body.delay is None else parse_duration(body.delay, field="delay")
    if delay is not None and delay > MAX_MINUTES * 60:
        raise ConfigError(f"must be at most 10 years, got {body.delay!r}", field="delay")
    req = EnqueueRequest(
        task_name=body.task,
        args=body.args or (),
        kwargs=body.kwargs or {},
        delay_seconds=delay,
    )
    job_id = await service.enqueue(req, triggered_by=TriggeredBy.WEBHOOK)
    return WebhookOut(action="enqueue", job_id=job_id, task=body.task)


def _validation(exc: ValidationError) -> ConfigError:
    """A pydantic error of the webhook body as our 422, naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "body"
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "is required"
    elif kind == "model_type":
        message, field = "expected a JSON object", "body"
    else:
        message = str(first.get("msg", "invalid value"))
    return ConfigError(message, field=field)
