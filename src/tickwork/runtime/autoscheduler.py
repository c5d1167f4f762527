"""The auto-rescheduler: every ``[autoschedule] interval`` (in a scheduler process) one pass
applies the rules of ``domain/autoschedule.py`` to every scheduled job, in batches.

Once for the cluster: a pass takes ``Store.lock_autoschedule`` (on PostgreSQL a session
advisory lock; a process that does not get it skips the pass). Per batch of ``batch_size``
jobs: their newest runs in one statement (``alert_runs``: succeeded, failed and timed-out runs,
so an ``interrupted`` one never counts), their trial runs' job states in one, then each change
written with its audit entry (``job.auto_reschedule``, ``job.auto_disable``,
``job.auto_probe``, ``job.auto_restore``, actor ``tickwork``) by compare-and-set. A half-open
breaker's one trial run is queued as a job of the task (one attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tickwork.clock import Clock, SystemClock
from tickwork.domain.access import NewAuditEntry
from tickwork.domain.autoschedule import (
    ACTOR,
    AutoSettings,
    Change,
    Override,
    OverrideWrite,
    Subject,
    adjusted,
    decide,
    job_rules,
    pile_ups,
)
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.tasks import Task, TaskSource
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop, repeating
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.autoschedule")


@dataclass(frozen=True)
class AutoPass:
    """What one pass did."""

    at: datetime
    jobs: int = 0  # jobs looked at
    changes: tuple[Change, ...] = ()  # the changes stored
    skipped: bool = False  # another pass held the lock


def next_fire(task: Task, override: Override, now: datetime) -> datetime | None:
    """The schedule's next fire after ``now`` under ``override`` (None: it does not fire)."""
    defn = task.definition
    if override.held or defn.schedule is None or not defn.enabled:
        return None
    schedule = parse_schedule(defn.schedule, defn.timezone)
    return adjusted(schedule.next_after, override.stride, override.offset_seconds)(now)


def override_entry(
    task: Task,
    action: str,
    before: Override,
    after: dict[str, object],
    now: datetime,
    actor: str,
    request_id: str | None = None,
) -> NewAuditEntry:
    """The audit entry of a change of ``task``'s override: before, the previous schedule."""
    previous = {
        "schedule": task.definition.schedule,
        "effective": before.describe() or "as defined",
        **before.to_dict(),
    }
    return NewAuditEntry(
        actor, action, "job", task.name, now, before=previous, after=after, request_id=request_id
    )


class AutoScheduler:
    """One pass on demand (``run_once``), or every ``settings.interval_seconds`` (``start``)."""

    def __init__(
        self,
        store: RuntimeStore,
        settings: AutoSettings,
        *,
        clock: Clock | None = None,
        on_changed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        # Schedules changed (wake this process's scheduler) or a trial run was queued.
        self.on_changed = on_changed
        self.retry = StoreRetry(log)
        self.last: AutoPass | None = None
        self._loop = BackgroundLoop("tickwork-autoschedule", repeating(self._pass, self.retry))

    async def run_once(self) -> AutoPass:
        lock = await self.store.lock_autoschedule()
        if lock is None:
            log.info("auto-rescheduling pass skipped: another process is running one")
            return AutoPass(self.clock.now(), skipped=True)
        try:
            now = self.clock.now()
            tasks = [
                t
                for t in await self.store.list_tasks(include_removed=False)
                if t.definition.source is not TaskSource.BUILTIN
                and t.definition.schedule is not None
                and t.definition.enabled
            ]
            piles = pile_ups({t.name: t.next_fire_at for t in tasks})
            size = self.settings.batch_size
            changes: list[Change] = []
            for start in range(0, len(tasks), size):
                changes += await self._batch(tasks[start : start + size], piles, now)
        finally:
            await lock.release()
        if changes and self.on_changed is not None:
            self.on_changed()
        self.last = AutoPass(now, len(tasks), tuple(changes))
        return self.last

    async def _batch(
        self,
        batch: Sequence[Task],
        piles: dict[str, tuple[int, datetime]],
        now: datetime,
    ) -> list[Change]:
        s = self.settings
        rules = {t.name: job_rules(s, t.definition.policies.autoschedule) for t in batch}
        batch = [t for t in batch if rules[t.name] or t.auto.active]
        runs = await self.store.alert_runs({t.name: s.window for t in batch})
        probes = [t.auto.probe_job_id for t in batch if t.auto.probe_job_id is not None]
        states = await self.store.job_states(probes)
        writes: list[OverrideWrite] = []
        made: list[Change] = []
        for task in batch:
            pile, at = piles.get(task.name, (0, None))
            probe = task.auto.probe_job_id
            subject = Subject(
                name=task.name,
                override=task.auto,
                rules=rules[task.name],
                runs=runs.get(task.name, ()),
                interval_seconds=_interval(task, now) if pile >= s.pile_up else None,
                piled_up=pile,
                pile_at=at,
                probe_state=None if probe is None else states.get(probe),
            )
            change = decide(subject, s, now)
            if change is None:
                continue
            if change.probe:
                change = replace(
                    change, after=replace(change.after, probe_job_id=await self._probe(task, now))
                )
            after = {
                **change.audit_after(),
                "effective": change.after.describe() or "as defined",
            }
            writes.append(
                OverrideWrite(
                    task.name,
                    task.auto,
                    change.after,
                    next_fire(task, change.after, now),
                    override_entry(task, change.action, task.auto, after, now, ACTOR),
                )
            )
            made.append(change)
        stored: list[Change] = []
        for write, change, ok in zip(
            writes, made, await self.store.write_overrides(writes), strict=True
        ):
            if ok:
                stored.append(change)
                log.info(
                    "job %s: %s (%s: %s)", write.name, change.action, change.rule, change.evidence
                )
        return stored

    async def _probe(self, task: Task, now: datetime) -> int:
        """Queue the half-open breaker's one trial run: a job of the task, one attempt."""
        defn = task.definition
        job = NewJob(
            task.name,
            now,
            TriggeredBy.SCHEDULER,
            max_attempts=1,
            args=list(defn.args),
            kwargs=dict(defn.kwargs),
            priority=defn.priority,
        )
        (job_id,) = await self.store.enqueue([job], now)
        return job_id

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> float:
        await self.run_once()
        return self.settings.interval_seconds


def _interval(task: Task, now: datetime) -> float | None:
    """Seconds between the defined schedule's next two fires."""
    defn = task.definition
    if defn.schedule is None:
        return None
    schedule = parse_schedule(defn.schedule, defn.timezone)
    first = schedule.next_after(now)
    return (schedule.next_after(first) - first).total_seconds()
