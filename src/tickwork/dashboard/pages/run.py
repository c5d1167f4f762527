"""One run (``/runs/{run_id}``): the timeline of its job's attempts, this attempt's output, error
and stack trace, its events and progress (paged), its resource use and who asked for it; while
the job runs again, that attempt's progress and events, live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.pages.queue_job import current_attempt
from tickwork.dashboard.present import tone
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.jobs import Job, Run
from tickwork.errors import NotFoundError

router = APIRouter(include_in_schema=False)

EVENTS_PAGE = 50
# The timeline's drawing area, in SVG units.
TIMELINE_WIDTH = 600
ROW_HEIGHT = 22


@dataclass(frozen=True)
class Bar:
    """One attempt on the timeline."""

    attempt: int
    run_id: int | None  # None: the attempt running now
    status: str
    started_at: datetime
    seconds: float
    worker_id: str | None
    x: float
    y: float
    width: float
    tone: str


def timeline(runs: list[Run], job: Job | None, now: datetime) -> list[Bar]:
    """Each attempt in order (and the running one last) as a bar placed by its start and
    duration on one time axis."""
    spans: list[tuple[int, int | None, str, datetime, float, str | None]] = [
        (r.attempt, r.id, r.status.value, r.started_at, r.duration_seconds, r.worker_id)
        for r in sorted(runs, key=lambda r: (r.attempt, r.id))
    ]
    if job is not None and job.state.value == "running" and job.started_at is not None:
        seconds = max((now - job.started_at).total_seconds(), 0.0)
        spans.append((job.attempt, None, "running", job.started_at, seconds, job.worker_id))
    if not spans:
        return []
    start = min(s[3] for s in spans)
    end = max(s[3].timestamp() + s[4] for s in spans)
    total = max(end - start.timestamp(), 1e-6)
    bars = []
    for row, (attempt, run_id, status, began, seconds, worker) in enumerate(spans):
        x = (began - start).total_seconds() / total * TIMELINE_WIDTH
        width = max(seconds / total * TIMELINE_WIDTH, 2.0)
        bars.append(
            Bar(
                attempt,
                run_id,
                status,
                began,
                seconds,
                worker,
                x=round(min(x, TIMELINE_WIDTH - 2.0), 1),
                y=row * ROW_HEIGHT,
                width=round(min(width, TIMELINE_WIDTH - x), 1) or 2.0,
                tone=tone(status),
            )
        )
    return bars


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(
    request: Request,
    run_id: int,
    who: LookerDep,
    after: Annotated[int | None, Query(ge=0, description="Events after this one.")] = None,
) -> HTMLResponse:
    ctx = get_context(request)
    svc = ctx.service
    run = await svc.get_run(run_id)
    job: Job | None
    try:
        job = await svc.get_job(run.job_id)
    except NotFoundError:  # its job was pruned; the run record stays
        job = None
    runs = await svc.runs_of_job(run.job_id)
    events = (
        []
        if job is None
        else await svc.run_events(
            run.job_id, attempt=run.attempt, after_id=after, limit=EVENTS_PAGE
        )
    )
    progress = None if job is None else await svc.latest_progress(run.job_id, run.attempt)
    next_url = f"/runs/{run_id}?after={events[-1].id}" if len(events) == EVENTS_PAGE else None
    return render(
        request,
        "run.html",
        {
            "run": run,
            "job": job,
            "bars": timeline(runs, job, ctx.clock.now()),
            "timeline_width": TIMELINE_WIDTH,
            "row_height": ROW_HEIGHT,
            "events": events,
            "progress": progress,
            "paged": after is not None,
            "next_url": next_url,
            "current": None if job is None else await current_attempt(svc, job),
            "here": f"/runs/{run_id}",
        },
    )
