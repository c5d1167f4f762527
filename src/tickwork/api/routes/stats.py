"""``GET /api/stats``: run statistics over a range, from the rollups (``service/stats.py``).

The same figures as ``tickwork stats``, in the shape both adapters share (``wire.StatsOut``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, get_context
from tickwork.service.stats import check_by, request_of
from tickwork.wire import StatsOut, stats_out

router = APIRouter(prefix="/api", tags=["runs"])


@router.get("/stats", response_model=StatsOut)
async def run_stats(
    request: Request,
    principal: Reader,
    since: Annotated[
        str | None,
        Query(
            description="a duration back from now (7d, 12h), an ISO 8601 time or a date;"
            " default 7 days before until"
        ),
    ] = None,
    until: Annotated[
        str | None, Query(description="an ISO 8601 time or a date (UTC); default now")
    ] = None,
    task: Annotated[str | None, Query(description="only this job")] = None,
    tag: Annotated[str | None, Query(description="only the jobs with this tag")] = None,
    key: Annotated[
        str | None, Query(description="only this concurrency key (counts by status only)")
    ] = None,
    trigger: Annotated[
        str | None, Query(description="not available: statistics are not kept per trigger")
    ] = None,
    by: Annotated[
        str | None, Query(description="one view besides the per-job figures: day, hour, key, error")
    ] = None,
) -> StatsOut:
    """Runs, success rate, durations (avg, p50/p95/p99), queue wait, slow runs, trends, peak
    hours, per-key success and errors by class and fingerprint. Ranges under 6 hours are read
    from minute rollups, longer ones from hour rollups, widened to whole periods
    (``first_bucket``); durations are within one histogram bucket (√2) of the exact ones."""
    ctx = get_context(request)
    view = check_by(by)
    wanted = request_of(
        ctx.clock.now(), since=since, until=until, task=task, tag=tag, key=key, trigger=trigger
    )
    return stats_out(await ctx.analytics.stats(wanted, view), view)
