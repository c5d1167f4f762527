"""The use case of the load preview: every enabled schedule with its job's p95 duration of the
last 7 days (from the rollups, as the analytics read them), handed to ``domain.load``."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tickwork.domain.load import DEFAULT_DAYS, MAX_DAYS, LoadInput, LoadReport, load_report
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.stats import TASKS
from tickwork.errors import ConfigError
from tickwork.service.context import Context
from tickwork.service.definitions import current
from tickwork.service.stats import request_of, stats_report

# The runs whose durations give each job's p95.
DURATIONS_SINCE = "7d"


@dataclass(frozen=True)
class LoadPreview:
    report: LoadReport
    skipped: tuple[str, ...]  # enabled schedules left out (paused now, or unreadable), why
    seconds_taken: float  # counting only (the reads excluded)


async def load_preview(ctx: Context, days: int = DEFAULT_DAYS) -> LoadPreview:
    """The expected starts and concurrency per minute of the next ``days`` (1 to 31) across
    every enabled schedule; ``ConfigError`` naming ``days`` otherwise."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"must be 1 to {MAX_DAYS}, got {days}", field="days")
    now = ctx.clock.now()
    tasks = [current(t, now) for t in await ctx.store.list_tasks(include_removed=False)]
    stats = await stats_report(
        ctx.store, request_of(now, since=DURATIONS_SINCE), frozenset({TASKS}), trends=False
    )
    p95 = {f.task_name: f.durations.quantile(0.95) for f in stats.tasks}
    inputs: list[LoadInput] = []
    skipped: list[str] = []
    for task in sorted(tasks, key=lambda t: t.name):
        defn = task.definition
        if defn.schedule is None or not defn.enabled:
            continue
        if task.paused(now):
            skipped.append(f"{task.name}: paused")
            continue
        try:
            schedule = parse_schedule(defn.schedule, defn.timezone)
        except ConfigError as exc:
            skipped.append(f"{task.name}: {exc.reason}")
            continue
        inputs.append(LoadInput(task.name, schedule, p95.get(task.name)))
    began = time.perf_counter()
    report = load_report(inputs, now, days)
    return LoadPreview(report, tuple(skipped), time.perf_counter() - began)
