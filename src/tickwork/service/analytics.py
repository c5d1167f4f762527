"""Run metrics, insights and health: read-only views over the rollups, the queue and the
processors (E2 ``metrics``/``insights``, D6 statistics, D7 insights, D8 health). Run figures
come from the rollups only (``service/stats.py``), never from scans of the runs table."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from tickwork.domain import insights as rules
from tickwork.domain.durations import format_duration
from tickwork.domain.insights import Finding
from tickwork.domain.processors import (
    DEFAULT_MAX_CONCURRENT_JOBS,
    lost_after_seconds,
    processor_state,
)
from tickwork.domain.schedules import next_fires, parse_schedule
from tickwork.domain.stats import ALL_PARTS, HOUR, HOURLY, TASKS, TaskFigures, bucket_start
from tickwork.domain.tasks import TaskDefinition
from tickwork.errors import ConfigError, StoreError
from tickwork.service.context import Context
from tickwork.service.queries import QueueStats, RunStats
from tickwork.service.stats import (
    MAX_RANGE_DAYS,
    StatsReport,
    StatsRequest,
    check_range,
    parts_for,
    stats_report,
)

__all__ = ["MAX_RANGE_DAYS", "Analytics", "Health", "Insights", "check_range"]

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"
NEAR_TIMEOUT = rules.NEAR_TIMEOUT
TOP = 5  # entries of the busiest-hours and slowest lists


@dataclass(frozen=True)
class Insights:
    always_failing: list[RunStats]  # tasks with >= 2 runs in the range and none succeeded
    near_timeout: list[tuple[RunStats, float]]  # p95 >= 80 % of the task's timeout (seconds)
    busiest_hours: list[tuple[int, int]]  # (UTC hour, runs), busiest first, at most 5
    slowest: list[RunStats]  # by p95 duration, at most 5
    findings: list[Finding] = field(default_factory=list)  # what to do (domain.insights)


@dataclass(frozen=True)
class Health:
    status: str  # healthy / degraded / unhealthy
    reasons: list[str]
    checked_at: datetime
    queue: QueueStats | None  # None when the store is unreachable
    processors: dict[str, int] = field(default_factory=dict)  # state -> count


def run_stats(f: TaskFigures) -> RunStats:
    """The seed's per-task figures (``/api/cron/metrics``) of a task's rollup figures."""
    d = f.durations
    return RunStats(f.task_name, f.runs, f.succeeded, f.failed, d.avg, d.quantile(0.95), d.max)


def schedule_interval(expression: str, timezone: str, now: datetime) -> float | None:
    """The shortest gap between a schedule's next few fires after the hour ``now`` falls in
    (seconds), None if unparseable: the same for every read within the hour, so it is kept
    (computing the fires of every schedule took most of an insights read)."""
    return _interval_after(expression, timezone, bucket_start(now, HOUR))


@functools.lru_cache(maxsize=4096)
def _interval_after(expression: str, timezone: str, hour: datetime) -> float | None:
    try:
        fires = next_fires(parse_schedule(expression, timezone), hour, 6)
    except (ConfigError, ValueError):
        return None
    gaps = [(b - a).total_seconds() for a, b in pairwise(fires)]
    return min(gaps) if gaps else None


class Analytics:
    def __init__(self, ctx: Context) -> None:
        self.store = ctx.store
        self.clock = ctx.clock
        self.heartbeat_interval_seconds = ctx.heartbeat_interval_seconds

    async def stats(self, request: StatsRequest, by: str | None = None) -> StatsReport:
        """``tickwork stats``, ``GET /api/stats``: the figures of a range (``service/stats.py``);
        with ``by``, the per-task figures and that view only."""
        return await stats_report(self.store, request, parts_for(by))

    async def metrics(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        """Per task: runs, success rate inputs, average, p95 and maximum duration of the runs
        that started in [start, end) widened to whole periods (``service/stats.py``), sorted by
        name. ``ConfigError`` if start >= end or a time is naive."""
        report = await stats_report(
            self.store, StatsRequest(start, end, task=task_name), frozenset({TASKS})
        )
        return [run_stats(f) for f in report.tasks]

    async def insights(self, start: datetime, end: datetime) -> Insights:
        """What stands out in [start, end): tasks that always failed, tasks whose p95 comes
        near their timeout (closest first), the busiest UTC hours and the slowest tasks; and
        the findings of every rule of ``domain.insights``, each with its evidence and what to
        do."""
        # Independent reads, side by side on the store's threads. No trends (peak hours only
        # are shown). The period before is settled while runs land now: its rows, and so its
        # report, come back kept (``stats_report``).
        report, previous, listed = await asyncio.gather(
            stats_report(self.store, StatsRequest(start, end), ALL_PARTS | {HOURLY}, trends=False),
            stats_report(
                self.store,
                StatsRequest(start - (end - start), start),
                frozenset({TASKS}),
                trends=False,
            ),
            self.store.list_tasks(),
        )
        stats = [run_stats(f) for f in report.tasks]
        p95 = {s.task_name: s.p95_duration_seconds for s in stats}
        tasks = {t.name: t.definition for t in listed}
        timeouts = {
            name: d.timeout_seconds for name, d in tasks.items() if d.timeout_seconds is not None
        }
        near = [
            (s, timeouts[s.task_name])
            for s in stats
            if s.task_name in timeouts
            and (v := p95[s.task_name]) is not None
            and v >= NEAR_TIMEOUT * timeouts[s.task_name]
        ]
        near.sort(key=lambda pair: (-(p95[pair[0].task_name] or 0) / pair[1], pair[0].task_name))
        slowest = sorted(
            (s for s in stats if p95[s.task_name] is not None),
            key=lambda s: (-(p95[s.task_name] or 0.0), s.task_name),
        )
        findings = await self._findings(report, previous, tasks, timeouts)
        return Insights(
            # A task whose runs were only skipped or interrupted has not failed.
            always_failing=[s for s in stats if s.runs >= 2 and s.succeeded == 0 and s.failed],
            near_timeout=near,
            busiest_hours=report.peak_hours[:TOP],
            slowest=slowest[:TOP],
            findings=findings,
        )

    async def _findings(
        self,
        report: StatsReport,
        previous: StatsReport,
        tasks: dict[str, TaskDefinition],
        timeouts: dict[str, float],
    ) -> list[Finding]:
        now = self.clock.now()
        failing = [
            f.task_name for f in report.tasks if f.runs >= 2 and f.failed and not f.succeeded
        ]
        # One read (not five side by side: a store thread and a connection each).
        around = await self.store.insight_surroundings(
            now, failing, report.first_bucket, report.end
        )
        intervals = {
            name: interval
            for name, d in tasks.items()
            if d.schedule
            and (interval := schedule_interval(d.schedule, d.timezone, now)) is not None
        }
        lost_after = lost_after_seconds(self.heartbeat_interval_seconds)
        workers = sum(
            1
            for p in around.processors
            if "worker" in p.role.split("+") and processor_state(p, now, lost_after) == "running"
        )
        slots = workers * (around.max_concurrent_jobs or DEFAULT_MAX_CONCURRENT_JOBS)
        span = (min(report.end, now) - report.first_bucket).total_seconds()
        oldest_due = around.oldest_due_at
        oldest = None if oldest_due is None else (now - oldest_due).total_seconds()
        return [
            *rules.always_failing(report.tasks, around.failing_since),
            *rules.timeout_too_tight(report.tasks, timeouts),
            *rules.overlapping_runs(report.tasks, intervals),
            *rules.futile_retries(
                report.tasks,
                {name: d.retry.max_retries for name, d in tasks.items()},
                report.errors,
            ),
            *rules.dominant_key(report.keys),
            *rules.growing_backlog(
                around.due_now,
                oldest,
                report.overall.waits.quantile(0.95),
                previous.overall.waits.quantile(0.95),
            ),
            *rules.slowdown(report.tasks, previous.tasks),
            *rules.saturated_slots(report.overall.durations.total, span, slots),
            *rules.missed_fires(around.missed, {f.task_name: f.runs for f in report.tasks}),
        ]

    async def store_reachable(self) -> bool:
        """One round trip to the store (the load balancers' cheap check)."""
        try:
            await self.store.ping()
        except StoreError:
            return False
        return True

    async def health(
        self, *, heartbeat_interval_seconds: float, backlog_warn_seconds: float = 300.0
    ) -> Health:
        """unhealthy: the store is unreachable, or no live worker while jobs are due;
        degraded: expired leases (stuck jobs), lost processors, due jobs waiting longer than
        ``backlog_warn_seconds``, or processing paused; otherwise healthy. Never raises for a
        store outage: that is a reason."""
        now = self.clock.now()
        try:
            await self.store.ping()
            # Health needs no count of finished jobs (a scan of every job).
            queue = await self.store.queue_stats(now, finished=False)
            infos = await self.store.list_processors()
            control = await self.store.get_control()
        except StoreError as exc:
            # One line: drivers put line breaks and hints into their messages.
            return Health(
                UNHEALTHY, [f"store unreachable: {' '.join(str(exc).split())}"], now, None
            )
        lost_after = lost_after_seconds(heartbeat_interval_seconds)
        states = [(info, processor_state(info, now, lost_after)) for info in infos]
        counts: dict[str, int] = {}
        for _, state in states:
            counts[state] = counts.get(state, 0) + 1
        live_workers = sum(
            1 for info, state in states if state == "running" and "worker" in info.role.split("+")
        )
        unhealthy: list[str] = []
        degraded: list[str] = []
        if queue.due_now and not live_workers:
            unhealthy.append(f"no live worker while {queue.due_now} job(s) are due")
        if queue.expired_leases:
            degraded.append(
                f"{queue.expired_leases} running job(s) with an expired lease"
                " (their worker likely died; the reaper takes them back)"
            )
        if counts.get("lost"):
            degraded.append(
                f"{counts['lost']} processor(s) lost (no heartbeat for {lost_after:g}s)"
            )
        if queue.oldest_due_at is not None:
            waiting = (now - queue.oldest_due_at).total_seconds()
            if waiting > backlog_warn_seconds:
                limit = format_duration(backlog_warn_seconds)
                degraded.append(
                    f"{queue.due_now} due job(s) waiting, the oldest for"
                    f" {format_duration(waiting)} (more than {limit})"
                )
        if control.paused:
            by = f" by {control.updated_by}" if control.updated_by else ""
            degraded.append(f"processing paused{by}")
        status = UNHEALTHY if unhealthy else DEGRADED if degraded else HEALTHY
        return Health(status, unhealthy + degraded, now, queue, counts)
