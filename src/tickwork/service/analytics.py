"""Run metrics, insights and health: read-only views over runs, queue and processors
(E2 ``metrics``/``insights``, D8 health)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tickwork.domain.durations import format_duration
from tickwork.domain.processors import lost_after_seconds, processor_state
from tickwork.errors import ConfigError, StoreError
from tickwork.service.context import Context
from tickwork.service.queries import QueueStats, RunStats

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"
MAX_RANGE_DAYS = 366
NEAR_TIMEOUT = 0.8  # a p95 duration at this share of the timeout or more is "near timeout"
TOP = 5  # entries of the busiest-hours and slowest lists


@dataclass(frozen=True)
class Insights:
    always_failing: list[RunStats]  # tasks with >= 2 runs in the range and none succeeded
    near_timeout: list[tuple[RunStats, float]]  # p95 >= 80 % of the task's timeout (seconds)
    busiest_hours: list[tuple[int, int]]  # (UTC hour, runs), busiest first, at most 5
    slowest: list[RunStats]  # by p95 duration, at most 5


@dataclass(frozen=True)
class Health:
    status: str  # healthy / degraded / unhealthy
    reasons: list[str]
    checked_at: datetime
    queue: QueueStats | None  # None when the store is unreachable
    processors: dict[str, int] = field(default_factory=dict)  # state -> count


class Analytics:
    def __init__(self, ctx: Context) -> None:
        self.store = ctx.store
        self.clock = ctx.clock

    async def metrics(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        """Per task: runs, success rate inputs, average and p95 duration in [start, end).
        ``ConfigError`` if start >= end or a time is naive."""
        check_range(start, end)
        return await self.store.run_stats(start, end, task_name)

    async def insights(self, start: datetime, end: datetime) -> Insights:
        """What stands out in [start, end): tasks that always failed, tasks whose p95 comes
        near their timeout (closest first), the busiest UTC hours and the slowest tasks."""
        stats = await self.metrics(start, end)
        hours = await self.store.runs_by_hour(start, end)
        timed = {s.task_name: s.p95_duration_seconds for s in stats}
        p95 = {name: value for name, value in timed.items() if value is not None}
        timeouts = {
            t.name: t.definition.timeout_seconds
            for t in await self.store.get_tasks(sorted(p95))
            if t.definition.timeout_seconds is not None
        }
        near = [
            (s, timeouts[s.task_name])
            for s in stats
            if s.task_name in timeouts and p95[s.task_name] >= NEAR_TIMEOUT * timeouts[s.task_name]
        ]
        near.sort(key=lambda pair: (-p95[pair[0].task_name] / pair[1], pair[0].task_name))
        slowest = sorted(
            (s for s in stats if s.task_name in p95), key=lambda s: (-p95[s.task_name], s.task_name)
        )
        return Insights(
            # A task whose runs were only skipped or interrupted has not failed.
            always_failing=[s for s in stats if s.runs >= 2 and s.succeeded == 0 and s.failed],
            near_timeout=near,
            busiest_hours=sorted(hours.items(), key=lambda hn: (-hn[1], hn[0]))[:TOP],
            slowest=slowest[:TOP],
        )

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
            queue = await self.store.queue_stats(now)
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


def check_range(start: datetime, end: datetime) -> None:
    """A metrics range: aware times, start before end, at most ``MAX_RANGE_DAYS`` long."""
    for name, when in (("start", start), ("end", end)):
        if when.tzinfo is None:
            raise ConfigError(f"time {when.isoformat()} has no UTC offset", field=name)
    if start >= end:
        raise ConfigError(
            f"start {start.isoformat()} must be before end {end.isoformat()}", field="start"
        )
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise ConfigError(
            f"the range is {(end - start).days} days; at most {MAX_RANGE_DAYS} days per query",
            field="end",
        )
