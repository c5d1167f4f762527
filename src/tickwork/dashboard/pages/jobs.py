"""The jobs list (``/jobs``): every live definition with its schedule in words, next and last
run, a sparkline of its last 60 runs and their success rate, filtered and paged by name
(keyset: ``?after=<name>``); and the bulk actions on the whole filtered selection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from tickwork.api.deps import get_context, service_for
from tickwork.api.schemas.definitions import LastStatus
from tickwork.dashboard.charts import SPARK_SLOTS, sparkline
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.dependencies import UpstreamOn
from tickwork.domain.jobs import RunMark
from tickwork.domain.schedule_words import describe_schedule
from tickwork.domain.stats import success_rate
from tickwork.domain.tasks import Task, TaskKind
from tickwork.errors import ConfigError
from tickwork.service.definitions import BULK_ACTIONS
from tickwork.service.queries import TaskFilter

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
Bulker = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
# A select left at "any" sends an empty value.
Any_ = Literal[""]
FILTER_FIELDS = ("name", "tag", "kind", "status", "enabled")


@dataclass(frozen=True)
class Filters:
    """The list's filters as the form sends them ("" = any)."""

    name: str = ""
    tag: str = ""
    kind: str = ""
    status: str = ""
    enabled: str = ""  # "yes", "no" or ""

    def query(self) -> TaskFilter:
        enabled = {"yes": True, "no": False}.get(self.enabled)
        if self.enabled not in ("", "yes", "no"):
            raise ConfigError(f"expected yes, no or nothing, got {self.enabled!r}", field="enabled")
        try:
            kind = TaskKind(self.kind) if self.kind else None
        except ValueError:
            raise ConfigError(f"unknown kind {self.kind!r}", field="kind") from None
        return TaskFilter(
            name=self.name or None,
            tag=self.tag or None,
            kind=kind,
            enabled=enabled,
            removed=False,
            last_status=self.status or None,
        )

    def fields(self) -> dict[str, str]:
        """The filters that are set, as form fields or URL parameters."""
        return {k: getattr(self, k) for k in FILTER_FIELDS if getattr(self, k)}

    def url(self, **more: str) -> str:
        params = {**self.fields(), **more}
        return "/jobs" + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True)
class Row:
    task: Task
    words: str
    last: RunMark | None
    spark: Markup
    success: float | None
    shown_runs: int


def unscheduled_words(task: Task) -> str:
    """What starts a job without a schedule: its upstreams (``after``), else people and code."""
    after = task.definition.policies.after
    if not after:
        return "on demand"
    shown = [a.job if a.on is UpstreamOn.SUCCESS else f"{a.job} ({a.on.value})" for a in after]
    return "after " + ", ".join(shown)


def row_of(task: Task, marks: list[RunMark]) -> Row:
    """A list row; ``marks`` newest first (as the store answers)."""
    d = task.definition
    words = describe_schedule(d.schedule, d.timezone) if d.schedule else unscheduled_words(task)
    # A run's status is a StrEnum, its own value: ``.value`` would cost an enum lookup each.
    counts = Counter[str](m.status for m in marks)
    oldest_first = [(m.status, m.duration_seconds) for m in reversed(marks)]
    return Row(
        task=task,
        words=words,
        last=marks[0] if marks else None,
        spark=sparkline(oldest_first),
        success=success_rate(counts),
        shown_runs=len(marks),
    )


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    who: LookerDep,
    name: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[TaskKind | Any_, Query()] = "",
    status: Annotated[LastStatus | Any_, Query()] = "",
    enabled: Annotated[Literal["yes", "no", ""], Query()] = "",
    after: Annotated[
        str | None, Query(max_length=200, description="Keyset: last name shown.")
    ] = None,
    done: Annotated[Literal["enable", "disable", "trigger"] | None, Query()] = None,
    changed: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    ctx = get_context(request)
    filters = Filters(name=name, tag=tag, kind=kind, status=status, enabled=enabled)
    # Keyset by name: a page starts after the last name of the one before. Each row's last
    # run comes with its sparkline.
    found = await ctx.service.search_tasks(
        filters.query(), after=after, limit=PAGE_SIZE, with_last=False
    )
    page = found.tasks
    recent = await ctx.service.recent_runs([t.name for t in page], SPARK_SLOTS)
    rows = [row_of(t, recent[t.name]) for t in page]
    next_url = filters.url(after=page[-1].name) if found.more and page else None
    flash = None
    if done is not None and changed is not None:
        flash = f"{done}: {changed} job(s) {'triggered' if done == 'trigger' else 'changed'}"
    return render(
        request,
        "jobs.html",
        {
            "rows": rows,
            "total": found.total,
            "filters": filters,
            "kinds": [k.value for k in TaskKind],
            "statuses": get_args(LastStatus),
            "next_url": next_url,
            "first_url": filters.url() if after is not None else None,
            "flash": flash,
            "bulk": [(a, {**filters.fields(), "action": a}) for a in BULK_ACTIONS],
            "back": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


@router.post("/jobs/bulk")
async def bulk(request: Request, who: Bulker) -> RedirectResponse:
    """The action on every definition the filters select (the form repeats them)."""
    form = await form_of(request)
    filters = Filters(**{k: form.get(k, "") for k in FILTER_FIELDS})
    action = form.get("action", "")
    report = await service_for(request, who.principal).bulk_tasks(filters.query(), action)
    return redirect(filters.url(done=report.action, changed=str(len(report.changed))))
