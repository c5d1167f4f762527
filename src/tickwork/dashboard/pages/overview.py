"""The overview (``/``): health with its reasons, processors, the queue by state with the
oldest due job's age, the last hour's runs and failure rate, and what needs attention."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.activity import MissedFireQuery
from tickwork.domain.jobs import JobState, RunStatus
from tickwork.domain.stats import TASKS
from tickwork.service.definition_rules import TaskFilter

router = APIRouter(include_in_schema=False)

# At most this many entries per kind in "needs attention"; the full lists are a click away.
ATTENTION = 10


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, who: LookerDep) -> HTMLResponse:
    ctx = get_context(request)
    now = ctx.clock.now()
    health = await ctx.analytics.health(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    status = await ctx.service.status(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    hour = await ctx.service.stats(since="1h", parts=frozenset({TASKS}))
    failing, _ = await ctx.service.search_tasks(
        TaskFilter(last_status=RunStatus.FAILED.value, removed=False)
    )
    timed_out, _ = await ctx.service.search_tasks(
        TaskFilter(last_status=RunStatus.TIMEOUT.value, removed=False)
    )
    disabled, _ = await ctx.service.search_tasks(TaskFilter(enabled=False, removed=False))
    missed = await ctx.service.missed_counts(MissedFireQuery(since=now - timedelta(hours=24)))
    control = await ctx.control.get()
    overall = hour.overall
    runs = overall.runs
    failed = runs - overall.succeeded
    oldest_due_age = (
        None
        if health.queue is None or health.queue.oldest_due_at is None
        else (now - health.queue.oldest_due_at).total_seconds()
    )
    return render(
        request,
        "overview.html",
        {
            "health": health,
            "status": status,
            "states": [(state.value, status.jobs_by_state.get(state, 0)) for state in JobState],
            "oldest_due_age": oldest_due_age,
            "hour_runs": runs,
            "hour_failed": failed,
            "failure_rate": failed / runs if runs else None,
            "failing": (failing + timed_out)[:ATTENTION],
            "failing_count": len(failing) + len(timed_out),
            "disabled": disabled[:ATTENTION],
            "disabled_count": len(disabled),
            "missed": sorted(missed, key=lambda m: -m.count)[:ATTENTION],
            "control": control,
        },
    )
