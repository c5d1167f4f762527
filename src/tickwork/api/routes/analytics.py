"""Run analytics under ``/api/cron``: per-task metrics and insights over a time window.

Routes parse the window, call ``Analytics`` and render."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, get_context
from tickwork.api.schemas.analytics import InsightsOut, MetricsOut, insights_out, stats_out
from tickwork.errors import ConfigError

router = APIRouter(prefix="/api/cron", tags=["processor"])

# Metrics and insights cover the last day unless told otherwise.
DEFAULT_WINDOW = timedelta(days=1)

StartQ = Annotated[
    str | None,
    Query(alias="startDate", description="ISO 8601 time or date (UTC); default endDate - 1 day"),
]
EndQ = Annotated[
    str | None, Query(alias="endDate", description="ISO 8601 time or date (UTC); default now")
]


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
