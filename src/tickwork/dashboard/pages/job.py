"""A job's page (``/jobs/{name}``): its configuration, the next 10 fires with daylight-saving
and calendar notes, a duration chart of its recent runs with the p50/p95 of the rollups, its
run history (keyset: ``?before=<run id>``), its missed fires, its dependencies (upstream and
downstream jobs, linked), and its actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.charts import SPARK_SLOTS, duration_chart, mark_of, sparkline
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.activity import MissedFireQuery
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


@dataclass(frozen=True)
class FireRow:
    fire_at: datetime  # in the schedule's zone
    runs_at: datetime
    notes: list[str]

    @property
    def utc(self) -> datetime:
        return self.fire_at.astimezone(UTC)


def fire_rows(fires: list[tuple[datetime, datetime]], now: datetime) -> list[FireRow]:
    """The fires with what a reader may not expect: a UTC offset that changed since the one
    before (daylight-saving time), a calendar that holds the run until later."""
    rows: list[FireRow] = []
    previous = None if not fires else now.astimezone(fires[0][0].tzinfo).utcoffset()
    for fire_at, runs_at in fires:
        notes: list[str] = []
        offset = fire_at.utcoffset()
        if previous is not None and offset is not None and offset != previous:
            notes.append(f"clocks change: UTC{_offset(previous)} → UTC{_offset(offset)}")
        if runs_at != fire_at:
            notes.append(f"outside its calendar: runs at {runs_at:%Y-%m-%d %H:%M %Z}")
        previous = offset
        rows.append(FireRow(fire_at, runs_at, notes))
    return rows


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@router.get("/jobs/{name}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    who: LookerDep,
    name: JobName,
    before: Annotated[int | None, Query(ge=1, description="Keyset: last run ID shown.")] = None,
) -> HTMLResponse:
    ctx = get_context(request)
    svc = ctx.service
    now = ctx.clock.now()
    task = await svc.get_task(name)
    d = task.definition
    table = svc.task_table(task)
    fires: list[tuple[datetime, datetime]] = []
    fire_error = None
    if d.schedule is not None and not task.removed:
        try:
            fires = await svc.preview_job(name, now, FIRES)
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
    return render(
        request,
        "job.html",
        {
            "task": task,
            "d": d,
            "table": table,
            "limits": [f"{k.replace('_', ' ')} {table[k]}" for k in LIMIT_KEYS if k in table],
            "words": describe_schedule(d.schedule, d.timezone) if d.schedule else None,
            "fires": fire_rows(fires, now),
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
        },
    )
