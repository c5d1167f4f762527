"""The overview (``/``): health with its reasons, processors, the queue by state with the
oldest due job's age, the last hour's runs and failure rate, and what needs attention (firing
alerts and heartbeat checks that are down among it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.activity import MissedFireQuery
from tickwork.domain.alert_states import Status as AlertStatus
from tickwork.domain.checks import CheckStatus
from tickwork.domain.stats import TASKS, TrendPoint
from tickwork.service.queries import FAILING, TaskFilter

router = APIRouter(include_in_schema=False)

# At most this many entries per kind in "needs attention"; the full lists are a click away.
ATTENTION = 10
CHART_MINUTES = 60
CHART_HEIGHT = 60
BAR_WIDTH = 8


@dataclass(frozen=True)
class Bar:
    x: int
    ok_height: float
    bad_height: float
    label: str


@dataclass(frozen=True)
class Throughput:
    bars: list[Bar]
    peak: int
    width: int
    height: int
    summary: str


def throughput_bars(points: list[TrendPoint], now: datetime) -> Throughput:
    """Bars of runs per minute for the last ``CHART_MINUTES`` minutes, oldest left; the
    failed part of each bar drawn on top of the succeeded part."""
    by_minute = {p.start: p for p in points}
    last = now.replace(second=0, microsecond=0)
    minutes = [last - timedelta(minutes=CHART_MINUTES - 1 - i) for i in range(CHART_MINUTES)]
    peak = max((p.runs for p in points), default=0)
    scale = CHART_HEIGHT / peak if peak else 0.0
    bars = []
    for i, minute in enumerate(minutes):
        p = by_minute.get(minute)
        runs, failed = (p.runs, p.failed) if p else (0, 0)
        bars.append(
            Bar(
                x=i * BAR_WIDTH,
                ok_height=(runs - failed) * scale,
                bad_height=failed * scale,
                label=f"{minute:%H:%M} UTC: {runs} runs, {failed} failed",
            )
        )
    total = sum(p.runs for p in points)
    return Throughput(
        bars,
        peak,
        CHART_MINUTES * BAR_WIDTH,
        CHART_HEIGHT,
        f"{total} runs in the last {CHART_MINUTES} minutes, at most {peak} in one minute",
    )


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, who: LookerDep) -> HTMLResponse:
    ctx = get_context(request)
    now = ctx.clock.now()
    svc = ctx.service
    beat = ctx.heartbeat_interval_seconds
    # The first few of each list and how many it holds, by the jobs list's own filters. The
    # failing ones (each task's stored latest run, by its status index) are read beside the
    # others (on PostgreSQL on a connection of its own; SQLite's store thread takes it in turn).
    failing_ = asyncio.create_task(
        svc.search_tasks(
            TaskFilter(removed=False, last_status=FAILING), limit=ATTENTION, with_last=False
        )
    )
    try:
        health = await ctx.analytics.health(heartbeat_interval_seconds=beat)
        # The queue's states only: counting the finished jobs is a scan of the whole history.
        status = await svc.status(heartbeat_interval_seconds=beat, finished=False)
        hour = await svc.stats(since="1h", parts=frozenset({TASKS}))
        disabled, paused = [
            await svc.search_tasks(f, limit=ATTENTION, with_last=False)
            for f in (
                TaskFilter(removed=False, enabled=False),
                TaskFilter(removed=False, paused=True),
            )
        ]
        missed = await svc.missed_counts(MissedFireQuery(since=now - timedelta(hours=24)))
        control = await ctx.control.get()
        rules = await svc.alerts.rules()
        checks = await svc.checks.list_all()
        minutes = await svc.runs_per_minute(CHART_MINUTES)
        failing = await failing_
    finally:
        failing_.cancel()  # when another read failed: nobody waits for this one
    firing = [
        (view.rule.name, s)
        for view in rules
        for s in view.subjects
        if s.state.status is AlertStatus.FIRING
    ]
    firing.sort(key=lambda pair: pair[1].state.changed_at or now, reverse=True)
    checks_down = [v.check.name for v in checks if v.state.status is CheckStatus.DOWN]
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
            "states": [(state.value, n) for state, n in status.jobs_by_state.items()],
            "oldest_due_age": oldest_due_age,
            "hour_runs": runs,
            "hour_failed": failed,
            "failure_rate": failed / runs if runs else None,
            "failing": failing.tasks,
            "failing_count": failing.total,
            "disabled": disabled.tasks,
            "disabled_count": disabled.total,
            "paused": paused.tasks,
            "paused_count": paused.total,
            "missed": sorted(missed, key=lambda m: -m.count)[:ATTENTION],
            "firing": firing[:ATTENTION],
            "firing_count": len(firing),
            "checks_down": checks_down[:ATTENTION],
            "checks_down_count": len(checks_down),
            "control": control,
            "chart": throughput_bars(minutes, now),
        },
    )
