"""One queued job (``/queue/{job_id}``): what it is and when, its runs, why it waits, and while it
runs its current attempt's progress and latest events (live); its actions post to ``queue``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.activity import RunEvent, RunEventKind
from tickwork.domain.jobs import Job, JobState
from tickwork.service.facade import Service

router = APIRouter(include_in_schema=False)

# Events of a running attempt shown as it runs (the newest); the run's page has them all.
LIVE_EVENTS = 10


@dataclass(frozen=True)
class Current:
    """The attempt a job is running now: no run record exists until it ends."""

    attempt: int
    progress: RunEvent | None
    events: list[RunEvent]  # newest first
    output: str  # written so far


async def current_attempt(svc: Service, job: Job) -> Current | None:
    if job.state is not JobState.RUNNING:
        return None
    progress = await svc.latest_progress(job.id, job.attempt)
    events = await svc.latest_events(
        job.id, job.attempt, kind=RunEventKind.EVENT, limit=LIVE_EVENTS
    )
    output = await svc.live_output(job.id, job.attempt)
    return Current(job.attempt, progress, events, output)


@router.get("/queue/{job_id}", response_class=HTMLResponse)
async def queue_job(request: Request, job_id: int, who: LookerDep) -> HTMLResponse:
    return await job_page(request, job_id)


async def job_page(
    request: Request,
    job_id: int,
    *,
    error: str | None = None,
    entered: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The page; with ``error``, the reschedule form's error next to it (and what was typed)."""
    svc = get_context(request).service
    job = await svc.get_job(job_id)
    holds = await svc.holds_of([job])
    context: dict[str, Any] = {
        "job": job,
        "runs": await svc.runs_of_job(job_id),
        "hold": holds.get(job.id),
        "current": await current_attempt(svc, job),
        "error": error,
        "entered": entered,
        "here": f"/queue/{job_id}",
    }
    return render(request, "queue_job.html", context, status_code=status_code)
