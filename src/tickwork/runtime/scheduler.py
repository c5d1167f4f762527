"""The scheduler: turns due schedules into jobs, one job per fire, and advances each schedule."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.schedules import Schedule, parse_schedule
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.store.base import DueSchedule, Fire, Store

log = logging.getLogger("tickwork.scheduler")

FIRE_BATCH_SIZE = 1000


# Jobs of fires this close are created ahead (as `scheduled`), so that at the fire time the
# worker only has to start them: creating 1,000 jobs at once takes longer than a fire may be late.
DEFAULT_LOOKAHEAD_SECONDS = 0.5


@dataclass(frozen=True)
class SchedulerSettings:
    poll_interval_seconds: float = 1.0
    misfire_grace_seconds: float = 60.0
    lookahead_seconds: float = DEFAULT_LOOKAHEAD_SECONDS


def plan_fire(
    due: DueSchedule,
    next_after: Callable[[datetime], datetime],
    now: datetime,
    grace_seconds: float,
) -> Fire:
    """What to do with a schedule whose ``next_fire_at`` has come.

    A fire later than the grace period is a misfire: it is skipped (no burst of stale runs after
    downtime) and the schedule moves to its first fire after ``now``. Otherwise the job is created
    for the fire time and the schedule moves to the fire after it (if that is also past, the next
    round fires it, so short lags within the grace catch up).
    """
    fire_at = due.next_fire_at
    if now - fire_at > timedelta(seconds=grace_seconds):
        log.info(
            "task %s: skipped the fire of %s (misfire: %s late)",
            due.task_name,
            fire_at.isoformat(),
            now - fire_at,
        )
        return Fire(due.task_name, fire_at, next_after(now), None)
    job = NewJob(
        task_name=due.task_name,
        scheduled_at=fire_at,
        triggered_by=TriggeredBy.SCHEDULER,
        max_attempts=due.max_attempts,
        args=list(due.args),
        kwargs=dict(due.kwargs),
        priority=due.priority,
        fire_at=fire_at,
    )
    return Fire(due.task_name, fire_at, next_after(fire_at), job)


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
        self._round: dict[tuple[tuple[str, str], datetime], datetime] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._retry = StoreRetry(log)

    def wake(self) -> None:
        """Schedules changed (sync, enable, edit): look again now."""
        self._wake.set()

    def schedule_of(self, expression: str, timezone: str) -> Schedule:
        key = (expression, timezone)
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = self._schedules[key] = parse_schedule(expression, timezone)
        return schedule

    def _plan(self, due: DueSchedule, now: datetime) -> Fire:
        try:
            schedule = self.schedule_of(due.schedule, due.timezone)
        except Exception as exc:  # validated on the way in; never let one stop the others
            log.error(
                "task %s: cannot evaluate its schedule, it stops firing: %s", due.task_name, exc
            )
            return Fire(due.task_name, due.next_fire_at, None, None)
        key = (due.schedule, due.timezone)

        def next_after(after: datetime) -> datetime:
            # Schedules that share an expression usually fire together: compute once per round.
            nxt = self._round.get((key, after))
            if nxt is None:
                nxt = self._round[(key, after)] = schedule.next_after(after)
            return nxt

        return plan_fire(due, next_after, now, self.settings.misfire_grace_seconds)

    async def run_once(self) -> int:
        """Fire everything due now; returns how many jobs were created."""
        created = 0
        while True:
            self._round.clear()
            now = self.clock.now()
            horizon = now + timedelta(seconds=self.settings.lookahead_seconds)
            handled, ids = await self.store.fire_due(
                now, FIRE_BATCH_SIZE, functools.partial(self._plan, now=now), horizon=horizon
            )
            created += len(ids)
            if ids and self._on_fired:
                self._on_fired()
            # Loop: more may be due than one batch, and a lagging schedule (within the grace)
            # may still be due after it advanced.
            if handled == 0:
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
                ahead = (next_fire - self.clock.now()).total_seconds()
                timeout = min(timeout, max(ahead - self.settings.lookahead_seconds, 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
