"""Why a job did or did not run around a time, and the load of the coming days across every
schedule: the shapes of ``tickwork explain`` and ``tickwork load`` (``wire_explain.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tickwork.api.deps import Reader, service_for
from tickwork.domain.durations import parse_duration
from tickwork.domain.load import DEFAULT_DAYS, MAX_DAYS
from tickwork.domain.tasks import NAME_PATTERN
from tickwork.wire_explain import ExplanationOut, LoadOut, explanation_out, load_out

router = APIRouter(tags=["jobs"])

JobName = Annotated[str, Path(pattern=NAME_PATTERN, description="A job definition's name.")]


@router.get("/api/jobs/{name}/explain", summary="Why a job did or did not run around a time")
async def explain_job(
    request: Request,
    principal: Reader,
    name: JobName,
    at: Annotated[
        datetime | None, Query(description="ISO 8601 with a UTC offset; default now.")
    ] = None,
    window: Annotated[
        str | None,
        Query(max_length=20, description="The fires this long before and after it (1h)."),
    ] = None,
) -> ExplanationOut:
    """Its fires in the window, each with what was recorded for it: its job (state, result,
    or the hold of a pending one), a missed fire and its reason, or nothing at all; its
    state then (disabled, paused) and the definition's changes, from the audit log."""
    svc = service_for(request, principal)
    seconds = None if window is None else parse_duration(window, field="window")
    return explanation_out(await svc.explain_job(name, at, seconds))


@router.get("/api/load", summary="Expected starts and concurrency per minute")
async def load(
    request: Request,
    principal: Reader,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = DEFAULT_DAYS,
) -> LoadOut:
    """Every enabled schedule over the coming ``days``, each run lasting its job's p95 of the
    last 7 days: starts and concurrency per minute, the peak minutes, the jobs whose p95
    exceeds their interval, and for schedules that start on the same second the spread
    offsets proposed and the peak they would give."""
    preview = await service_for(request, principal).load_preview(days)
    return load_out(preview.report, preview.skipped, preview.seconds_taken)
