"""Run metrics, insights and health: read-only views over runs, queue and processors
(E2 ``metrics``/``insights``, D8 health)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tickwork.runtime.clock import Clock, SystemClock
from tickwork.store.base import QueueStats, RunStats, Store

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


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
    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def metrics(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        """Per task: runs, success rate inputs, average and p95 duration in [start, end).
        ``ConfigError`` if start >= end or a time is naive."""
        raise NotImplementedError

    async def insights(self, start: datetime, end: datetime) -> Insights:
        raise NotImplementedError

    async def health(
        self, *, heartbeat_interval_seconds: float, backlog_warn_seconds: float = 300.0
    ) -> Health:
        """unhealthy: the store is unreachable, or no live worker while jobs are due;
        degraded: expired leases (stuck jobs), lost processors, due jobs waiting longer than
        ``backlog_warn_seconds``, or processing paused; otherwise healthy. Never raises for a
        store outage: that is a reason."""
        raise NotImplementedError
