"""A job's page (``/jobs/{name}``): its configuration, the next 10 fires with daylight-saving
and calendar notes, a duration chart of its recent runs with the p50/p95 of the rollups, its
run history (keyset: ``?before=<run id>``), its missed fires, its dependencies (upstream and
downstream jobs, linked), why it did or did not run around a time (``job_explain.py``), and its
actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.charts import SPARK_SLOTS, duration_chart, mark_of, sparkline
from tickwork.dashboard.pages.job_explain import explain_panel
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.activity import MissedFireQuery
from tickwork.domain.fire_notes import NotedFire
from tickwork.domain.schedule_words import describe_schedule
from tickwork.domain.stats import TASKS
from tickwork.domain.tasks import NAME_PATTERN, TaskSource
from tickwork.errors import ConfigError
from tickwork.service.definition_rules import SOURCE_PLACES
from tickwork.service.queries import RunQuery

router = APIRouter(include_in_schema=False)

RUNS_PAGE = 50
FIRES = 10
MISSED = 20
BACKFILLS = 10  # the newest, with their progress (``templates/_backfills.html``)
STATS_SINCE = "7d"
# The limit keys of a [[jobs]] table, as the configuration section lists them.
LIMIT_KEYS = ("rate_limit", "key_rate_limit", "key_limit", "cooldown")
JobName = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.get("/jobs/{name}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    who: LookerDep,
    name: JobName,
    before: Annotated[int | None, Query(ge=1, description="Keyset: last run ID shown.")] = None,
    explain_at: Annotated[str | None, Query(max_length=40)] = None,
    window: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    ctx = get_context(request)
    svc = ctx.service
    now = ctx.clock.now()
    task = await svc.get_task(name)
    d = task.definition
    table = svc.task_table(task)
    fires: list[NotedFire] = []
    fire_error = None
    if d.schedule is not None and not task.removed:
        try:
            fires = await svc.preview_job_noted(name, now, FIRES)
        except ConfigError as exc:  # e.g. a schedule that no longer fires
            fire_error = exc.reason
    runs = await svc.query_runs(RunQuery(task_name=name, before_id=before, limit=RUNS_PAGE))
    recent = (await svc.recent_runs([name], SPARK_SLOTS))[name]
    marks = [
        mark_of(m.id, m.status.value, m.started_at, m.duration_seconds) for m in reversed(recent)
    ]
    report = await svc.stats(since=STATS_SINCE, task=name, parts=frozenset({TASKS}))
    figures = next((f for f in report.tasks if f.task_name == name), None)
    p50 = None if figures is None else figures.durations.quantile(0.5)
    p95 = None if figures is None else figures.durations.quantile(0.95)
    missed = await svc.missed_fires(MissedFireQuery(task_name=name, limit=MISSED))
    backfills = await svc.list_backfills(name, BACKFILLS)
    deps = await svc.dependencies()
    explained = await explain_panel(svc, name, explain_at, window)
    return render(
        request,
        "job.html",
        {
            "task": task,
            "d": d,
            "table": table,
            "limits": [f"{k.replace('_', ' ')} {table[k]}" for k in LIMIT_KEYS if k in table],
            "words": describe_schedule(d.schedule, d.timezone) if d.schedule else None,
            "fires": fires,
            "fire_error": fire_error,
            "runs": runs,
            "next_url": f"/jobs/{name}?before={runs[-1].id}" if len(runs) == RUNS_PAGE else None,
            "first_url": f"/jobs/{name}" if before is not None else None,
            "spark": sparkline([(m.status, m.seconds) for m in marks]),
            "chart": duration_chart(marks, p50=p50, p95=p95),
            "figures": figures,
            "p50": p50,
            "p95": p95,
            "stats_since": STATS_SINCE,
            "missed": missed,
            "backfills": backfills,
            "upstream": deps.upstream_of(name),
            "downstream": deps.downstream_of(name),
            "api_made": d.source is TaskSource.API,
            "defined_in": SOURCE_PLACES[d.source],
            "explained": explained,
        },
    )
