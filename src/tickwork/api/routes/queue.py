"""The job queue: enqueue, list, show (with runs and why it waits), cancel, reschedule, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, Triggerer, service_for
from tickwork.api.schemas.common import CursorPage, CursorParam, Id, LimitParam
from tickwork.api.schemas.queue import (
    CancelIn,
    Duration,
    EnqueueIn,
    QueueJobDetailOut,
    RescheduleIn,
    hold_out,
)
from tickwork.domain.durations import parse_duration
from tickwork.domain.jobs import JobState
from tickwork.errors import ConfigError
from tickwork.service.jobs import EnqueueRequest
from tickwork.service.queries import JobQuery
from tickwork.wire import QueueJobOut, RunEventOut, queue_job_out, run_event_out, run_out

router = APIRouter(prefix="/api/queue", tags=["queue"])


def _seconds(value: Duration | None, field: str) -> float | None:
    return None if value is None else parse_duration(value, field=field)


def _deadline(value: Duration | None) -> tuple[float | None, datetime | None]:
    """A deadline given as a duration or as an ISO time: (seconds, time)."""
    if value is None:
        return None, None
    try:
        return parse_duration(value, field="deadline"), None
    except ConfigError:
        if isinstance(value, str):
            try:
                return None, datetime.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(
            f"expected a duration like '30m' or a time like '2030-01-01T00:00:00Z', got {value!r}",
            field="deadline",
        ) from None


def enqueue_request(body: EnqueueIn) -> EnqueueRequest:
    deadline, deadline_at = _deadline(body.deadline)
    return EnqueueRequest(
        task_name=body.task,
        args=body.args,
        kwargs=body.kwargs,
        at=body.at,
        delay_seconds=_seconds(body.delay, "delay"),
        key=body.key,
        priority=body.priority,
        unique_key=body.unique_key,
        unique_for_seconds=_seconds(body.unique_for, "unique_for"),
        deadline_seconds=_seconds(deadline, "deadline"),
        deadline_at=deadline_at,
        on_deadline=body.on_deadline,
    )


@router.post("", status_code=201, summary="Enqueue a job of a defined task")
async def enqueue(request: Request, principal: Triggerer, body: EnqueueIn) -> QueueJobOut:
    """With a `unique_key` held by an active job, that job is returned instead of a new one."""
    svc = service_for(request, principal)
    job_id = await svc.enqueue(enqueue_request(body))
    return queue_job_out(await svc.get_job(job_id))


@router.get("", summary="Jobs in the queue, newest first")
async def list_queue(
    request: Request,
    principal: Reader,
    state: Annotated[list[JobState] | None, Query(description="Repeatable.")] = None,
    task: Annotated[str | None, Query(max_length=200)] = None,
    key: Annotated[str | None, Query(max_length=200)] = None,
    before_id: CursorParam = None,
    limit: LimitParam = 50,
) -> CursorPage[QueueJobOut]:
    svc = service_for(request, principal)
    jobs = await svc.query_jobs(
        JobQuery(task_name=task, states=state, key=key, before_id=before_id, limit=limit)
    )
    next_cursor = jobs[-1].id if len(jobs) == limit else None
    return CursorPage[QueueJobOut](items=[queue_job_out(j) for j in jobs], next_cursor=next_cursor)


@router.get("/{job_id}", summary="A job, its runs, why it waits, its current progress")
async def get_queue_job(request: Request, principal: Reader, job_id: Id) -> QueueJobDetailOut:
    svc = service_for(request, principal)
    job = await svc.get_job(job_id)
    runs = await svc.runs_of_job(job_id)
    held = await svc.explain(job_id)
    running = job.state is JobState.RUNNING
    progress = await svc.latest_progress(job_id, job.attempt) if running else None
    return QueueJobDetailOut(
        job=queue_job_out(job),
        runs=[run_out(r) for r in runs],
        held=hold_out(held),
        progress=None if progress is None else run_event_out(progress),
        output=await svc.live_output(job_id, job.attempt) if running else None,
    )


@router.get("/{job_id}/events", summary="A job's progress and events, oldest first")
async def job_events(
    request: Request,
    principal: Reader,
    job_id: Id,
    attempt: Annotated[int | None, Query(ge=1, le=1_000_000, description="One attempt.")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> CursorPage[RunEventOut]:
    """What the job's runs reported with `tickwork.progress`/`tickwork.event` (or `::tickwork`
    lines of a shell job); `cursor` is the `next_cursor` of the previous page."""
    svc = service_for(request, principal)
    events = await svc.run_events(job_id, attempt=attempt, after_id=cursor, limit=limit)
    next_cursor = events[-1].id if len(events) == limit else None
    return CursorPage[RunEventOut](
        items=[run_event_out(e) for e in events], next_cursor=next_cursor
    )


@router.post("/{job_id}/cancel", summary="Cancel a pending job, or stop a running one")
async def cancel(
    request: Request, principal: Triggerer, job_id: Id, body: CancelIn | None = None
) -> QueueJobOut:
    svc = service_for(request, principal)
    reason = body.reason if body is not None and body.reason else None
    job = await (svc.cancel(job_id, reason) if reason else svc.cancel(job_id))
    return queue_job_out(job)


@router.post("/{job_id}/reschedule", summary="Move a pending job to another time")
async def reschedule(
    request: Request, principal: Triggerer, job_id: Id, body: RescheduleIn
) -> QueueJobOut:
    svc = service_for(request, principal)
    return queue_job_out(await svc.reschedule(job_id, body.at))


@router.post("/{job_id}/retry", status_code=201, summary="Run a finished job again")
async def retry(request: Request, principal: Triggerer, job_id: Id) -> QueueJobOut:
    """A new job of the same task, arguments, priority and key, due now; the finished one
    keeps its state and runs. 409 while the job is still pending or running."""
    svc = service_for(request, principal)
    return queue_job_out(await svc.get_job(await svc.retry(job_id)))
