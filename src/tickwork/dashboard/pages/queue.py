"""The queue (``/queue``): jobs by state with filters, paged by job ID, the counts per state, why
each pending job of the page waits; and what can be done to one queued job (cancel, retry, run
now, reschedule), from this page, the job's page or a run's page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tickwork.api.deps import get_context, service_for
from tickwork.dashboard.pages.job_actions import back
from tickwork.dashboard.pages.queue_job import job_page
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.jobs import PENDING_STATES, JobState
from tickwork.errors import ConfigError
from tickwork.service.queries import JobQuery

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]

PAGE_SIZE = 50
PENDING = "pending"  # scheduled, available and retrying together
STATE_FILTERS = (PENDING, *(s.value for s in JobState))


def states_of(value: str | None) -> list[JobState] | None:
    """The states a ``state`` filter stands for (None: all); ``ConfigError`` for a wrong one."""
    if not value:
        return None
    if value == PENDING:
        return sorted(PENDING_STATES)
    try:
        return [JobState(value)]
    except ValueError:
        raise ConfigError(
            f"unknown state {value[:40]!r}; use one of {', '.join(STATE_FILTERS)}", field="state"
        ) from None


@router.get("/queue", response_class=HTMLResponse)
async def queue(
    request: Request,
    who: LookerDep,
    state: Annotated[str | None, Query(max_length=40)] = None,
    task: Annotated[str | None, Query(max_length=200)] = None,
    key: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    svc = get_context(request).service
    filters = {"state": state or "", "task": task or "", "key": key or ""}
    jobs = await svc.query_jobs(
        JobQuery(
            task_name=task or None,
            states=states_of(state),
            key=key or None,
            before_id=before,
            limit=PAGE_SIZE,
        )
    )
    stats = await svc.queue_stats()
    shown = {k: v for k, v in filters.items() if v}
    next_url = (
        f"/queue?{urlencode({**shown, 'before': jobs[-1].id})}" if len(jobs) == PAGE_SIZE else None
    )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "queue.html",
        {
            "jobs": jobs,
            "holds": await svc.holds_of(jobs),
            "counts": [(s.value, stats.by_state.get(s, 0)) for s in JobState],
            "pending_count": sum(stats.by_state.get(s, 0) for s in PENDING_STATES),
            "due_now": stats.due_now,
            "filters": filters,
            "state_filters": STATE_FILTERS,
            "paged": before is not None,
            "first_url": "/queue" + (f"?{urlencode(shown)}" if shown else ""),
            "next_url": next_url,
            "here": here,
        },
    )


# --- actions on one job ------------------------------------------------------------------------
@router.post("/queue/{job_id}/cancel")
async def cancel(request: Request, job_id: int, who: Triggerer) -> RedirectResponse:
    """A pending job is cancelled; a running one is asked to stop."""
    await service_for(request, who.principal).cancel(job_id, f"cancelled by {who.name}")
    return await back(request, f"/queue/{job_id}")


@router.post("/queue/{job_id}/retry")
async def retry(request: Request, job_id: int, who: Triggerer) -> RedirectResponse:
    """A finished job runs again as a new job: its page is where to watch it."""
    new_id = await service_for(request, who.principal).retry(job_id)
    return redirect(f"/queue/{new_id}")


@router.post("/queue/{job_id}/run-now")
async def run_now(request: Request, job_id: int, who: Triggerer) -> RedirectResponse:
    """A pending job is due now (a reschedule to the present)."""
    now = get_context(request).clock.now()
    await service_for(request, who.principal).reschedule(job_id, now)
    return await back(request, f"/queue/{job_id}")


@router.post("/queue/{job_id}/reschedule")
async def reschedule(request: Request, job_id: int, who: Triggerer) -> Response:
    """A pending job moves to the form's ``at``: a ``datetime-local`` value, read as UTC (or
    with its own offset). A time that cannot be read shows the job's page with the error."""
    text = (await form_of(request)).get("at", "").strip()
    try:
        at = parse_local_time(text)
    except ConfigError as exc:
        return await job_page(request, job_id, error=str(exc), entered=text, status_code=422)
    await service_for(request, who.principal).reschedule(job_id, at)
    return await back(request, f"/queue/{job_id}")


def parse_local_time(text: str, field: str = "at") -> datetime:
    """A form's time: ``2026-12-07T09:30`` (UTC) or ISO 8601 with an offset."""
    if not text:
        raise ConfigError("give the new time, e.g. 2026-12-07T09:30 (UTC)", field=field)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{text[:40]!r} is not a time; use YYYY-MM-DDTHH:MM (UTC)", field=field
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
