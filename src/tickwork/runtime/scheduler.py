"""The scheduler: turns due schedules into jobs, one job per fire, and advances each schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.schedules import Schedule, parse_schedule
from tickwork.domain.tasks import Task
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.store.base import Fire, Store

log = logging.getLogger("tickwork.scheduler")

FIRE_BATCH_SIZE = 1000


@dataclass(frozen=True)
class SchedulerSettings:
    poll_interval_seconds: float = 1.0
    misfire_grace_seconds: float = 60.0


def plan_fire(task: Task, schedule: Schedule, now: datetime, grace_seconds: float) -> Fire:
    """What to do with a task whose ``next_fire_at`` has come.

    A fire later than the grace period is a misfire: it is skipped (no burst of stale runs after
    downtime) and the schedule moves to its first fire after ``now``. Otherwise the job is created
    for the fire time and the schedule moves to the fire after it (if that is also past, the next
    tick fires it, so short lags within the grace catch up).
    """
    fire_at = task.next_fire_at
    assert fire_at is not None
    defn = task.definition
    if now - fire_at > timedelta(seconds=grace_seconds):
        log.info("task %s: skipped the fire of %s (misfire: %s late)", defn.name,
                 fire_at.isoformat(), now - fire_at)
        return Fire(defn.name, fire_at, schedule.next_after(now), None)
    job = NewJob(
        task_name=defn.name,
        scheduled_at=fire_at,
        triggered_by=TriggeredBy.SCHEDULER,
        max_attempts=defn.max_attempts,
        args=list(defn.args),
        kwargs=dict(defn.kwargs),
        priority=defn.priority,
        fire_at=fire_at,
    )
    return Fire(defn.name, fire_at, schedule.next_after(fire_at), job)


class Scheduler:
    """Fires due schedules in batches; any number may run against one store (the store keeps
    each fire to one job)."""

    def __init__(
        self,
        store: Store,
        settings: SchedulerSettings,
        *,
        clock: Clock | None = None,
        on_fired: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self._on_fired = on_fired
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._retry = StoreRetry(log)

    def wake(self) -> None:
        """Schedules changed (sync, enable, edit): look again now."""
        self._wake.set()

    def schedule_of(self, task: Task) -> Schedule:
        defn = task.definition
        assert defn.schedule is not None
        key = (defn.schedule, defn.timezone)
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = self._schedules[key] = parse_schedule(defn.schedule, defn.timezone)
        return schedule

    async def run_once(self) -> int:
        """Fire everything due now; returns how many jobs were created."""
        created = 0
        while True:
            now = self.clock.now()
            due = await self.store.due_tasks(now, FIRE_BATCH_SIZE)
            if not due:
                return created
            fires = []
            for task in due:
                try:
                    schedule = self.schedule_of(task)
                except Exception as exc:  # validated on the way in; never stop the others
                    log.error("task %s: cannot evaluate its schedule: %s", task.name, exc)
                    continue
                fires.append(plan_fire(task, schedule, now, self.settings.misfire_grace_seconds))
            ids = await self.store.record_fires(fires, now)
            created += len(ids)
            if ids and self._on_fired:
                self._on_fired()
            if len(due) < FIRE_BATCH_SIZE:
                return created

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="tickwork-scheduler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                next_fire = await self.store.next_fire_time()
            except Exception as exc:
                await self._retry.failed(exc)
                continue
            self._retry.succeeded()
            timeout = self.settings.poll_interval_seconds
            if next_fire is not None:
                timeout = min(timeout, max((next_fire - self.clock.now()).total_seconds(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
