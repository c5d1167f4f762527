"""The scheduler: turns due schedules into jobs, one job per fire, and advances each schedule."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tickwork.clock import Clock, SystemClock
from tickwork.domain.activity import MissedReason, NewMissedFire, missed_between
from tickwork.domain.autoschedule import adjusted
from tickwork.domain.calendars import Calendar, calendar_from_spec
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.limits import MisfirePolicy, OverlapPolicy
from tickwork.domain.processors import (
    DEFAULT_MISFIRE_GRACE_SECONDS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    ROLE_SCHEDULER,
)
from tickwork.domain.queries import ControlState, DueSchedule, Fire
from tickwork.domain.schedules import Schedule, parse_schedule
from tickwork.errors import ConfigError
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.scheduler")

FIRE_BATCH_SIZE = 1000


# Jobs of fires this close are created ahead (as `scheduled`), so that at the fire time the
# worker only has to start them: creating 1,000 jobs at once takes longer than a fire may be late.
DEFAULT_LOOKAHEAD_SECONDS = 0.5


@dataclass(frozen=True)
class SchedulerSettings:
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    misfire_grace_seconds: float = DEFAULT_MISFIRE_GRACE_SECONDS
    lookahead_seconds: float = DEFAULT_LOOKAHEAD_SECONDS
    # This process's ID: its own processor row is not "another scheduler" (see Unattended).
    processor_id: str | None = None


SKIPPED_OVERLAP = "skipped: a previous run is still active (overlap=skip)"
SKIPPED_PAUSED = "skipped: processing is paused and an earlier job still waits (overlap=skip)"
SKIPPED_CALENDAR = (
    "skipped: the calendar was closed at the fire time and an earlier fire still waits for its"
    " opening (overlap=skip)"
)


@dataclass(frozen=True)
class Unattended:
    """When no scheduler was up, as far as this one can tell: after the last sign of life of
    any other scheduler process (``since``; None: none was ever seen) and before this one
    started (``until``). A misfire in that gap is recorded as ``no_scheduler``."""

    since: datetime | None
    until: datetime

    def covers(self, fire_at: datetime) -> bool:
        return fire_at < self.until and (self.since is None or fire_at > self.since)


_MICROSECOND = timedelta(microseconds=1)


def plan_fire(
    due: DueSchedule,
    next_after: Callable[[datetime], datetime],
    now: datetime,
    grace_seconds: float,
    *,
    calendar: Calendar | None = None,
    paused: bool = False,
    unattended: Unattended | None = None,
) -> Fire:
    """``plan_schedule``'s fire, and none of its jobs when a ``requires`` of the task did not
    hold (``due.unmet``): each of its fires is then a missed fire ``dependency`` naming the
    requirements not met (checked before the overlap policy: such a fire would not run
    whatever else is active)."""
    if due.unmet:
        due = dataclasses.replace(due, active_jobs=0)
    fire = plan_schedule(
        due,
        next_after,
        now,
        grace_seconds,
        calendar=calendar,
        paused=paused,
        unattended=unattended,
    )
    if not due.unmet:
        return fire
    jobs = [j for j in (fire.job, *fire.extra_jobs) if j is not None]
    if not jobs:
        return fire
    why = "requirement not met: " + "; ".join(due.unmet)
    log.info("task %s: %s", due.task_name, why)
    reason = MissedReason.DEPENDENCY
    held = tuple(
        NewMissedFire(due.task_name, j.fire_at or fire.previous_next_fire_at, reason, why)
        for j in jobs
    )
    return dataclasses.replace(
        fire, job=None, extra_jobs=(), cancel_active=False, missed=fire.missed + held
    )


def plan_schedule(
    due: DueSchedule,
    next_after: Callable[[datetime], datetime],
    now: datetime,
    grace_seconds: float,
    *,
    calendar: Calendar | None = None,
    paused: bool = False,
    unattended: Unattended | None = None,
) -> Fire:
    """What to do with a schedule whose ``next_fire_at`` has come, under the task's policies.

    A fire later than the grace period is a misfire (the process was down). By the task's
    misfire policy the missed fires are skipped (the default: no burst of stale runs after
    downtime), run once for the whole gap (as the latest missed fire), or caught up (each missed
    fire within the window, at most ``catch_up_max``: the most recent ones); then the schedule
    moves to its first fire after ``now``. Otherwise the job is created for the fire time and
    the schedule moves to the fire after it (if that is also past, the next round fires it, so
    short lags within the grace catch up).

    The overlap policy looks at the task's active jobs: ``skip`` records the fire's jobs as
    skipped, ``replace`` has the store cancel the active ones; ``queue`` and ``allow`` create
    them as usual. With a ``calendar``, a job's ``scheduled_at`` is its next opening; its
    ``fire_at`` stays the schedule's time.

    Every fire that does not become a run is in the result's ``missed`` with its reason: the
    fires a misfire policy drops (``no_scheduler`` when ``unattended`` covers the first of
    them, else ``misfire``; a long gap in at most ``MAX_MISSED_ROWS_PER_GAP`` rows) and the
    overlap skips (``paused`` while processing is ``paused``, ``calendar`` when the calendar
    was closed at the fire time, else ``overlap``). A task whose pause is over has its fires
    before the end of the pause recorded as ``paused`` (``_after_pause``).
    """
    if due.pause is not None and due.pause.until is not None:
        return _after_pause(
            due,
            due.pause.until,
            next_after,
            now,
            grace_seconds,
            calendar=calendar,
            paused=paused,
            unattended=unattended,
        )
    fire_at = due.next_fire_at
    if now - fire_at <= timedelta(seconds=grace_seconds):
        return _apply_overlap(
            due,
            Fire(due.task_name, fire_at, next_after(fire_at), _job(due, fire_at, calendar)),
            calendar,
            paused,
        )
    fires = _missed_fires(due, next_after, now)
    late = now - fire_at
    reason = (
        MissedReason.NO_SCHEDULER
        if unattended is not None and unattended.covers(fire_at)
        else MissedReason.MISFIRE
    )
    dropped = missed_between(
        due.task_name,
        fire_at,
        next_after,
        now,
        reason,
        f"{_late_text(late)} late (misfire_grace {grace_seconds:g}s), misfire="
        f"{due.policies.misfire.value}",
        kept=frozenset(_utc(f) for f in fires),
    )
    if not fires:
        log.info(
            "task %s: skipped the fire of %s (%s: %s late)",
            due.task_name,
            fire_at.isoformat(),
            reason.value,
            late,
        )
        return Fire(due.task_name, fire_at, next_after(now), None, missed=dropped)
    log.info(
        "task %s: missed fires since %s (%s late): %d job(s) (misfire=%s)",
        due.task_name,
        fire_at.isoformat(),
        now - fire_at,
        len(fires),
        due.policies.misfire.value,
    )
    first, *rest = (_job(due, f, calendar) for f in fires)
    fire = Fire(
        due.task_name, fire_at, next_after(now), first, extra_jobs=tuple(rest), missed=dropped
    )
    return _apply_overlap(due, fire, calendar, paused)


def _after_pause(
    due: DueSchedule,
    until: datetime,
    next_after: Callable[[datetime], datetime],
    now: datetime,
    grace_seconds: float,
    **options: Any,
) -> Fire:
    """A due schedule whose task's pause is over (the store hands out no other paused task):
    the fires before ``until`` are missed (``paused``), not replayed; from ``until`` on the
    schedule fires as usual. The store clears the pause as the schedule advances."""
    assert due.pause is not None
    missed, first = due.pause.ended(due.task_name, due.next_fire_at, next_after, until)
    if missed and _utc(first) > now:
        # Only missed fires now; the next round (within the lookahead) makes the next job.
        return Fire(due.task_name, due.next_fire_at, first, None, missed=missed)
    resumed = dataclasses.replace(due, next_fire_at=first, pause=None)
    fire = plan_schedule(resumed, next_after, now, grace_seconds, **options)
    return dataclasses.replace(fire, missed=missed + fire.missed)


def _late_text(late: timedelta) -> str:
    return str(timedelta(seconds=round(late.total_seconds())))


def _job(due: DueSchedule, fire_at: datetime, calendar: Calendar | None) -> NewJob:
    runs_at = fire_at
    if calendar is not None:
        try:
            runs_at = calendar.next_open(fire_at)
        except ConfigError as exc:  # closed for two years: never hold up the other fires
            log.error("task %s: %s; it runs at its fire time", due.task_name, exc)
    return NewJob(
        task_name=due.task_name,
        scheduled_at=runs_at,
        triggered_by=TriggeredBy.SCHEDULER,
        max_attempts=due.max_attempts,
        args=list(due.args),
        kwargs=dict(due.kwargs),
        priority=due.priority,
        fire_at=fire_at,
    )


def _apply_overlap(due: DueSchedule, fire: Fire, calendar: Calendar | None, paused: bool) -> Fire:
    if not due.active_jobs or fire.job is None:
        return fire
    overlap = due.policies.overlap
    if overlap is OverlapPolicy.SKIP:
        # The reason is what held the earlier job back, when the scheduler can tell.
        if paused:
            reason, why = MissedReason.PAUSED, SKIPPED_PAUSED
        elif calendar is not None and not calendar.is_open(fire.previous_next_fire_at):
            reason, why = MissedReason.CALENDAR, SKIPPED_CALENDAR
        else:
            reason, why = MissedReason.OVERLAP, SKIPPED_OVERLAP
        log.info("task %s: %s", due.task_name, why)
        skipped = tuple(
            dataclasses.replace(j, skip_reason=why) for j in (fire.job, *fire.extra_jobs)
        )
        return dataclasses.replace(
            fire,
            job=skipped[0],
            extra_jobs=skipped[1:],
            missed=fire.missed
            + tuple(
                NewMissedFire(
                    due.task_name,
                    j.fire_at or fire.previous_next_fire_at,
                    reason,
                    why,
                    skipped_job=True,
                )
                for j in skipped
            ),
        )
    if overlap is OverlapPolicy.REPLACE:
        return dataclasses.replace(fire, cancel_active=True)
    return fire  # queue (one at a time, enforced when claiming) or allow


def _missed_fires(
    due: DueSchedule, next_after: Callable[[datetime], datetime], now: datetime
) -> list[datetime]:
    """The missed fires (from ``due.next_fire_at`` up to ``now``) its misfire policy runs."""
    policies = due.policies
    first = due.next_fire_at
    if policies.misfire is MisfirePolicy.RUN_ONCE:
        return [_latest_fire(first, next_after, now)]
    if policies.misfire is MisfirePolicy.CATCH_UP:
        since = now - timedelta(seconds=policies.catch_up_window_seconds)
        fire = first if first >= since else next_after(since - _MICROSECOND)
        recent: deque[datetime] = deque(maxlen=policies.catch_up_max)
        while _utc(fire) <= now:
            recent.append(fire)
            fire = next_after(fire)
        return list(recent)
    return []


def _latest_fire(
    first: datetime, next_after: Callable[[datetime], datetime], now: datetime
) -> datetime:
    """The last fire at or before ``now``, given that ``first`` (<= now) is a fire.

    Gallops back from ``now`` instead of walking every missed fire (a week of a per-second
    schedule would be 600,000 of them): a few probes, then a few steps forward.
    """
    floor = first - _MICROSECOND
    step = timedelta(seconds=1)
    while True:
        probe = max(now - step, floor)
        fire = next_after(probe)
        if _utc(fire) <= now:
            while True:
                later = next_after(fire)
                if _utc(later) > now:
                    return fire
                fire = later
        if probe == floor:  # cannot happen: next_after(floor) is ``first``
            return first
        step *= 2


def _utc(when: datetime) -> datetime:
    # Fires are in the schedule's zone; compared as instants (wall times mislead in a DST fold).
    return when.astimezone(UTC)


class Scheduler:
    """Fires due schedules in batches; any number may run against one store (the store keeps
    each fire to one job)."""

    def __init__(
        self,
        store: RuntimeStore,
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
        self._calendars: dict[str, Calendar | None] = {}
        self._round: dict[tuple[tuple[str, str], datetime], datetime] = {}
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop("tickwork-scheduler", self._run)
        self.retry = StoreRetry(log)
        # Processing paused cluster-wide (``apply_control``, from the heartbeat): overlap skips
        # are then recorded as ``paused``.
        self.paused = False
        self.unattended: Unattended | None = None  # found on the first round

    def apply_control(self, state: ControlState) -> None:
        self.paused = state.paused

    async def _find_unattended(self) -> Unattended:
        """Since when no other scheduler was seen alive (its last heartbeat or stop)."""
        until = self.clock.now()
        seen = [
            p.stopped_at or p.heartbeat_at
            for p in await self.store.list_processors()
            if p.id != self.settings.processor_id and ROLE_SCHEDULER in p.role.split("+")
        ]
        return Unattended(max(seen, default=None), until)

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
        if due.auto_held:  # auto-disabled (circuit breaker open): no fire until restored
            return Fire(due.task_name, due.next_fire_at, None, None)
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

        # Auto-rescheduled (every n-th fire, an offset): the same fires, taken from the cache.
        effective = adjusted(next_after, due.auto_stride, due.auto_offset_seconds)

        spec = due.policies.calendar
        calendar = None if spec is None else self.calendar_of(spec, due.task_name)
        return plan_fire(
            due,
            effective,
            now,
            self.settings.misfire_grace_seconds,
            calendar=calendar,
            paused=self.paused,
            unattended=self.unattended,
        )

    def calendar_of(self, spec: dict[str, Any], task_name: str = "?") -> Calendar | None:
        """The calendar of a spec, parsed once per distinct spec; None if it is invalid."""
        key = json.dumps(spec, sort_keys=True, default=str)
        try:
            return self._calendars[key]
        except KeyError:
            pass
        calendar: Calendar | None = None
        try:
            calendar = calendar_from_spec(spec)
        except Exception as exc:  # validated on the way in; run on the schedule's times then
            log.error(
                "task %s: invalid calendar, jobs start at their fire times: %s", task_name, exc
            )
        self._calendars[key] = calendar
        return calendar

    async def run_once(self) -> int:
        """Fire everything due now; returns how many jobs were created."""
        if self.unattended is None:
            self.unattended = await self._find_unattended()
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
                break
        # The next job of each queue backfill whose previous one ended (one read when none).
        if await self.store.release_backfills(self.clock.now()) and self._on_fired:
            self._on_fired()
        return created

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                next_fire = await self.store.next_fire_time()
            except Exception as exc:
                await self.retry.failed(exc)
                continue
            self.retry.succeeded()
            timeout = self.settings.poll_interval_seconds
            if next_fire is not None:
                ahead = (next_fire - self.clock.now()).total_seconds()
                timeout = min(timeout, max(ahead - self.settings.lookahead_seconds, 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
