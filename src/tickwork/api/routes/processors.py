"""Processor control under ``/api/cron``: pause/resume, process now, status, health, config.

Also queue figures and resetting stuck jobs. Routes parse, call one use case (``Control``,
``Analytics``, ``Service``) and render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tickwork.api.deps import (
    TRIGGER_SECRET,
    Controller,
    Reader,
    authenticate,
    get_context,
    service_for,
)
from tickwork.api.schemas.processors import (
    ConfigIn,
    ControlOut,
    CronQueueOut,
    CronStatusOut,
    HealthDetailOut,
    ProcessNowOut,
    ProcessorLoad,
    ResetStuckIn,
    ResetStuckOut,
    control_out,
    cron_status_out,
    health_out,
    job_brief,
    queue_out,
)
from tickwork.domain.access import Principal, Scope
from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError, ForbiddenError

router = APIRouter(prefix="/api/cron", tags=["processor"])

# ``Control.configure`` field -> the name callers of PUT /api/cron/config use.
CONFIG_FIELDS = {
    "batch_size": "batchSize",
    "max_concurrent_jobs": "concurrency",
    "default_timeout_seconds": "timeout",
}


def api_field(exc: ConfigError) -> ConfigError:
    """The same error with the field named as the caller wrote it."""
    if exc.field in CONFIG_FIELDS:
        return ConfigError(exc.reason, field=CONFIG_FIELDS[exc.field])
    return exc


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
    return cron_status_out(status_, await ctx.control.get())


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
