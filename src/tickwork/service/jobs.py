"""The use cases of queued jobs: enqueue (one or many, unique keys, deadlines), trigger,
reschedule, cancel, explain a hold, reset stuck jobs, wake the workers, and read the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tickwork.domain.admission import Hold
from tickwork.domain.durations import format_duration
from tickwork.domain.jobs import (
    PENDING_STATES,
    TERMINAL_STATES,
    Job,
    JobState,
    NewJob,
    TriggeredBy,
)
from tickwork.domain.tasks import Task, TaskDefinition
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError
from tickwork.service.audit import Change
from tickwork.service.context import Context
from tickwork.service.definition_rules import calendar_of
from tickwork.service.definitions import task_named
from tickwork.service.queries import JobQuery, QueueStats, check_limit

# Manual and API triggers go before scheduled work of the same task (B3).
TRIGGER_PRIORITY_BOOST = 100


@dataclass(frozen=True)
class EnqueueRequest:
    task_name: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    delay_seconds: float | None = None
    key: str | None = None
    priority: int | None = None
    unique_key: str | None = None
    # With unique_key: also return a job of that key that finished this many seconds ago or less.
    unique_for_seconds: float | None = None
    # A deadline (seconds after the job's time, or a time) and the task to run if the job has
    # not succeeded by then; it gets kwargs ``job_id`` and ``task``.
    deadline_seconds: float | None = None
    deadline_at: datetime | None = None
    on_deadline: str | None = None
    # A trigger: "run now", so a calendar does not hold it back.
    run_now: bool = False


class Jobs:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def enqueue(
        self, req: EnqueueRequest, *, triggered_by: TriggeredBy = TriggeredBy.API
    ) -> int:
        """Create one job for a defined task; returns its ID."""
        (job_id,) = await self.enqueue_many([req], triggered_by=triggered_by)
        return job_id

    async def enqueue_many(
        self, reqs: Sequence[EnqueueRequest], *, triggered_by: TriggeredBy = TriggeredBy.API
    ) -> list[int]:
        """Create many jobs in one transaction (all or none); returns their IDs in order.

        A request whose ``unique_key`` is held by an active job (or, with
        ``unique_for_seconds``, by one that finished that recently) gets that job's ID instead
        of a new job; requests of one call with the same key share one job. A request with a
        deadline also creates its ``on_deadline`` job, due at the deadline, which is cancelled
        if the job succeeds first. Audited (the IDs) only with ``audit_enqueues``.
        """
        ids = await self._enqueue_many(reqs, triggered_by)
        if self.ctx.audit_enqueues and ids:
            target = str(ids[0]) if len(ids) == 1 else f"{len(ids)} jobs"
            await self.ctx.audit("queue_job.enqueue", "queue_job", target, after={"job_ids": ids})
        return ids

    async def _enqueue_many(
        self, reqs: Sequence[EnqueueRequest], triggered_by: TriggeredBy
    ) -> list[int]:
        ctx = self.ctx
        now = ctx.clock.now()
        requester = ctx.actor.requester
        new_jobs = []
        for r in reqs:
            defn = await self._definition(r.task_name)
            has_deadline = r.deadline_seconds is not None or r.deadline_at is not None
            if has_deadline and r.on_deadline is None:
                raise ConfigError(
                    "a deadline needs the job to run when it passes", field="on_deadline"
                )
            if r.on_deadline is not None and not has_deadline:
                raise ConfigError(
                    f"on_deadline {r.on_deadline!r} needs a deadline (seconds or a time)",
                    field="deadline",
                )
            alarm = None if r.on_deadline is None else await self._definition(r.on_deadline)
            new_jobs.append(self._new_job(defn, r, now, triggered_by, requester, alarm))
        ids = await ctx.store.enqueue(new_jobs, now)
        ctx.work_queued()
        return ids

    async def _definition(self, name: str) -> TaskDefinition:
        defn = await self.ctx.tasks.get(name)
        if defn is None:
            raise NotFoundError(f"no job named {name!r}")
        return defn

    def _new_job(
        self,
        defn: TaskDefinition,
        req: EnqueueRequest,
        now: datetime,
        triggered_by: TriggeredBy,
        requested_by: str | None,
        on_deadline: TaskDefinition | None = None,
    ) -> NewJob:
        if req.at is not None and req.delay_seconds is not None:
            raise ConfigError("give either a time or a delay, not both", field="at")
        when = now
        if req.at is not None:
            if req.at.tzinfo is None:
                raise ConfigError(f"time {req.at.isoformat()} has no UTC offset", field="at")
            when = req.at
        elif req.delay_seconds is not None:
            when = now + timedelta(seconds=req.delay_seconds)
        if defn.policies.calendar is not None and not req.run_now:
            when = calendar_of(defn.policies.calendar).next_open(when)
        if req.unique_for_seconds is not None:
            if req.unique_key is None:
                raise ConfigError("needs a unique_key", field="unique_for_seconds")
            if req.unique_for_seconds < 0:
                raise ConfigError(
                    f"must be >= 0, got {req.unique_for_seconds:g}", field="unique_for_seconds"
                )
        args, kwargs = self.ctx.calls.arguments(defn, req.args, req.kwargs)
        deadline_job = None
        if on_deadline is not None:
            self.ctx.calls.check_watchdog(on_deadline)
            deadline_job = NewJob(
                task_name=on_deadline.name,
                scheduled_at=_deadline(req, when),
                triggered_by=triggered_by,
                max_attempts=on_deadline.max_attempts,
                priority=on_deadline.priority,
                requested_by=requested_by,
            )
        return NewJob(
            task_name=defn.name,
            scheduled_at=when,
            triggered_by=triggered_by,
            max_attempts=defn.max_attempts,
            args=args,
            kwargs=kwargs,
            priority=defn.priority if req.priority is None else req.priority,
            key=req.key,
            unique_key=req.unique_key,
            unique_for_seconds=req.unique_for_seconds,
            deadline_job=deadline_job,
            requested_by=requested_by,
        )

    async def trigger(self, name: str, *, triggered_by: TriggeredBy = TriggeredBy.MANUAL) -> int:
        """Run a defined job now, ahead of scheduled work, whether or not it is enabled."""
        (job_id,) = await self.trigger_many([await task_named(self.ctx, name)], triggered_by)
        return job_id

    async def trigger_many(
        self, tasks: Sequence[Task], triggered_by: TriggeredBy = TriggeredBy.MANUAL
    ) -> list[int]:
        """``trigger`` for several tasks in one enqueue; one audit entry per task."""
        for task in tasks:
            if task.removed:
                raise ConfigError(
                    "was removed from the definitions; it cannot be triggered", job=task.name
                )
        reqs = [
            EnqueueRequest(
                task_name=task.name,
                priority=task.definition.priority + TRIGGER_PRIORITY_BOOST,
                run_now=True,
            )
            for task in tasks
        ]
        # Audited as the triggers they are, not as enqueues.
        ids = await self._enqueue_many(reqs, triggered_by)
        await self.ctx.audit_all(
            [
                Change("job.trigger", "job", task.name, after={"job_id": job_id})
                for task, job_id in zip(tasks, ids, strict=True)
            ]
        )
        return ids

    async def retry(self, job_id: int) -> int:
        """Run a finished job again as a new job (same task, arguments, priority and key, due
        now); the finished one keeps its state and runs, since a terminal state is final.
        ``InvalidStateError`` while it is still pending or running. Returns the new job's ID;
        audited with both IDs."""
        job = await self.get(job_id)
        if job.state not in TERMINAL_STATES:
            raise InvalidStateError(
                f"job {job_id} is {job.state.value}; only a finished job can be retried"
            )
        req = EnqueueRequest(
            task_name=job.task_name,
            args=job.args,
            kwargs=job.kwargs,
            key=job.key,
            priority=job.priority,
            run_now=True,
        )
        (new_id,) = await self._enqueue_many([req], TriggeredBy.MANUAL)
        await self.ctx.audit(
            "queue_job.retry",
            "queue_job",
            str(job_id),
            before={"state": job.state.value},
            after={"job_id": new_id},
        )
        return new_id

    async def get(self, job_id: int) -> Job:
        job = await self.ctx.store.get_job(job_id)
        if job is None:
            raise NotFoundError(f"no job with ID {job_id}")
        return job

    async def list_jobs(
        self,
        *,
        task_name: str | None = None,
        states: Sequence[JobState] | None = None,
        limit: int = 100,
    ) -> list[Job]:
        return await self.ctx.store.query_jobs(
            JobQuery(task_name=task_name, states=states, limit=limit)
        )

    async def query(self, query: JobQuery) -> list[Job]:
        """``ConfigError`` for a limit outside 1..1000."""
        check_limit(query.limit)
        return await self.ctx.store.query_jobs(query)

    async def reschedule(self, job_id: int, at: datetime) -> Job:
        """Move a pending job to ``at`` (aware); audited. ``InvalidStateError`` otherwise."""
        ctx = self.ctx
        if at.tzinfo is None:
            raise ConfigError(f"time {at.isoformat()} has no UTC offset", field="at")
        before = await self.get(job_id)
        job = await ctx.store.reschedule_job(job_id, at, ctx.clock.now())
        if job is None:
            raise NotFoundError(f"no job with ID {job_id}")
        ctx.work_queued()  # it may be due earlier than the worker is waiting for
        await ctx.audit(
            "queue_job.reschedule",
            "queue_job",
            str(job_id),
            before={"scheduled_at": before.scheduled_at.isoformat()},
            after={"scheduled_at": job.scheduled_at.isoformat()},
        )
        return job

    async def explain(self, job_id: int) -> Hold | None:
        """Why a pending job is not running now (X1); None if nothing holds it back."""
        await self.get(job_id)
        return await self.ctx.store.explain_hold(job_id, self.ctx.clock.now(), self.ctx.rules)

    async def holds_of(self, jobs: Sequence[Job]) -> dict[int, Hold]:
        """Why each pending job of ``jobs`` (a page already read) waits, by ID, in one read;
        jobs that are not pending, or that nothing holds, are absent."""
        pending = [job.id for job in jobs if job.state in PENDING_STATES]
        if not pending:
            return {}
        return await self.ctx.store.explain_holds(pending, self.ctx.clock.now(), self.ctx.rules)

    async def reset_stuck(self, older_than_seconds: float) -> list[Job]:
        """Put jobs running for longer than ``older_than_seconds`` back in the queue, as if
        their worker had died (C4): their attempt is given back, and a job interrupted more
        than ``max_interruptions`` times fails instead. Returns them."""
        ctx = self.ctx
        if not older_than_seconds > 0:
            raise ConfigError(f"must be > 0, got {older_than_seconds:g}", field="older_than")
        reason = f"reset by an operator: running longer than {format_duration(older_than_seconds)}"
        jobs = await ctx.store.reset_stuck(
            older_than_seconds,
            ctx.clock.now(),
            reason,
            max_interruptions=ctx.max_interruptions,
        )
        if jobs:
            ctx.work_queued()
        await ctx.audit(
            "processor.reset_stuck",
            "processor",
            "cluster",
            after={
                "older_than_seconds": older_than_seconds,
                "count": len(jobs),
                "job_ids": [j.id for j in jobs],
            },
        )
        return jobs

    async def cancel(self, job_id: int, reason: str = "cancelled by request") -> Job:
        ctx = self.ctx
        job = await ctx.store.cancel_job(job_id, ctx.clock.now(), reason)
        if job is None:
            raise NotFoundError(f"no job with ID {job_id}")
        await ctx.audit(
            "queue_job.cancel",
            "queue_job",
            str(job_id),
            after={"task": job.task_name, "state": job.state.value, "reason": reason},
        )
        return job

    async def queue_stats(self) -> QueueStats:
        """The queue now: counts by state, due jobs and the oldest of them, expired leases."""
        return await self.ctx.store.queue_stats(self.ctx.clock.now())

    async def process_now(self) -> int:
        """Wake every idle worker — this process's through its hook, other processes' by
        NOTIFY on PostgreSQL — so due jobs start now; returns how many are due."""
        self.ctx.work_queued()
        await self.ctx.store.notify_workers()
        return (await self.queue_stats()).due_now


def _deadline(req: EnqueueRequest, when: datetime) -> datetime:
    """The deadline of a request whose job is due at ``when``; it must come after ``when``."""
    if req.deadline_seconds is not None and req.deadline_at is not None:
        raise ConfigError("give either a deadline time or a duration, not both", field="deadline")
    if req.deadline_at is not None:
        if req.deadline_at.tzinfo is None:
            raise ConfigError(
                f"time {req.deadline_at.isoformat()} has no UTC offset", field="deadline_at"
            )
        if req.deadline_at <= when:
            raise ConfigError(
                f"{req.deadline_at.isoformat()} is not after the job's time {when.isoformat()}",
                field="deadline_at",
            )
        return req.deadline_at
    assert req.deadline_seconds is not None
    if req.deadline_seconds <= 0:
        raise ConfigError(f"must be > 0, got {req.deadline_seconds:g}", field="deadline_seconds")
    return when + timedelta(seconds=req.deadline_seconds)
