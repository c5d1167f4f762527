"""The use cases every adapter calls: define, enqueue, trigger, cancel, enable, query."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tickwork import audit
from tickwork.definitions import (
    TaskFilter,
    audit_table,
    first_fire,
    select_tasks,
    sync_changes,
    validate_definitions,
)
from tickwork.domain.access import LOCAL, AuditEntry, AuditQuery, Principal
from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.arguments import check_call, check_json, combine, signature_of
from tickwork.domain.calendars import Calendar, calendar_from_spec
from tickwork.domain.durations import format_duration
from tickwork.domain.jobs import Job, JobState, NewJob, Run, RunStatus, TriggeredBy
from tickwork.domain.queries import (
    RUN_SORTS,
    JobQuery,
    ProcessorInfo,
    QueueStats,
    RunQuery,
    SyncReport,
)
from tickwork.domain.schedules import next_fires, parse_schedule
from tickwork.domain.tasks import (
    DEFAULT_MAX_INTERRUPTIONS,
    PythonTarget,
    Task,
    TaskDefinition,
    TaskKind,
    TaskSource,
)
from tickwork.errors import ConfigError, NotFoundError
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.runtime.executors.python import resolve_callable
from tickwork.runtime.heartbeat import DEFAULT_HEARTBEAT_SECONDS
from tickwork.runtime.taskcache import TaskCache
from tickwork.service_definitions import ApiDefinitions
from tickwork.store.base import Store

# Manual and API triggers go before scheduled work of the same task (B3).
TRIGGER_PRIORITY_BOOST = 100
# A processor whose last heartbeat is older than this many heartbeat intervals is "lost".
LOST_AFTER_HEARTBEATS = 3
# The largest page of the audit log one call returns.
MAX_AUDIT_PAGE = 1000
# Call shapes known to fit their task's signature, remembered per service (a bound on memory).
MAX_REMEMBERED_SHAPES = 10_000


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


@dataclass(frozen=True)
class ProcessorStatus:
    info: ProcessorInfo
    state: str  # "running", "lost" (no heartbeat for LOST_AFTER_HEARTBEATS intervals), "stopped"
    running_jobs: int  # jobs in state running with this processor as their worker


@dataclass(frozen=True)
class Status:
    jobs_by_state: dict[JobState, int]
    processors: list[ProcessorStatus]
    # Workers running jobs without a processor row (e.g. embedded without a heartbeat).
    unregistered: dict[str, int] = field(default_factory=dict)


def processor_state(info: ProcessorInfo, now: datetime, lost_after_seconds: float) -> str:
    if info.stopped_at is not None:
        return "stopped"
    if (now - info.heartbeat_at).total_seconds() > lost_after_seconds:
        return "lost"
    return "running"


class Service(ApiDefinitions):
    """Use cases over one store. Adapters parse input, call one method, and render the result."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        resolve: Callable[[str], Callable[..., Any]] | None = resolve_callable,
        on_enqueue: Callable[[], None] | None = None,
        on_schedules_changed: Callable[[], None] | None = None,
        rules: ClaimRules | None = None,
        actor: Principal = LOCAL,
        request_id: str | None = None,
        api_job_kinds: frozenset[TaskKind] = frozenset({TaskKind.HTTP}),
        calendars: Mapping[str, dict[str, Any]] | None = None,
        audit_enqueues: bool = False,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> None:
        self.store = store
        # How often a job may lose its worker before it fails ([tickwork] max_interruptions).
        self.max_interruptions = max_interruptions
        # Who acts through this service, for the audit log; see ``as_actor``.
        self.actor = actor
        self.request_id = request_id
        # Enqueues are the hot path of in-process producers: audited only for someone acting
        # through ``as_actor`` (the API), where they are few and someone's decision.
        self.audit_enqueues = audit_enqueues
        # Kinds of job definitions that may be created over the API: HTTP only by default, as
        # shell commands and Python callables would run code chosen by an API caller.
        self.api_job_kinds = api_job_kinds
        # The [calendars.NAME] of tickwork.toml, for `calendar = "NAME"` in API definitions.
        self.calendars: Mapping[str, dict[str, Any]] = calendars or {}
        self.rules = rules or ClaimRules()
        self.clock = clock or SystemClock()
        self._resolve = resolve
        self._on_enqueue = on_enqueue
        self._on_schedules_changed = on_schedules_changed
        self._tasks = TaskCache(store)
        # Python tasks' signatures by path, for checking arguments at enqueue; None: cannot be
        # imported in this process (or has no signature), so arguments go unchecked.
        self._signatures: dict[str, inspect.Signature | None] = {}
        self._fitting: set[tuple[Any, ...]] = set()  # call shapes that fit (see _arguments)

    def as_actor(self, actor: Principal, request_id: str | None = None) -> Service:
        """This service acting for ``actor`` (one per API request); shares store and caches."""
        view = copy.copy(self)
        view.actor = actor
        view.request_id = request_id
        view.audit_enqueues = True
        return view

    async def _audit(
        self,
        action: str,
        target_type: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Record a change or action by ``self.actor`` in the audit log (D3)."""
        await audit.record(
            self.store,
            self.clock,
            self.actor,
            action,
            target_type,
            target,
            before=before,
            after=after,
            request_id=self.request_id,
        )

    async def audit_log(self, query: AuditQuery) -> list[AuditEntry]:
        """A page of the audit log (``ConfigError`` for a limit outside 1..1000 or a time
        without a UTC offset)."""
        if not 1 <= query.limit <= MAX_AUDIT_PAGE:
            raise ConfigError(
                f"must be from 1 to {MAX_AUDIT_PAGE}, got {query.limit}", field="limit"
            )
        for name in ("since", "until"):
            when = getattr(query, name)
            if when is not None and when.tzinfo is None:
                raise ConfigError(f"time {when.isoformat()} has no UTC offset", field=name)
        return await self.store.query_audit(query)

    # --- definitions -----------------------------------------------------------------------
    async def sync_definitions(
        self, definitions: Sequence[TaskDefinition], sources: Sequence[TaskSource]
    ) -> SyncReport:
        """Validate all definitions, then make the store match them in one transaction. Each
        change is audited as made by ``self.actor`` (a processor: ``processor:<id>``)."""
        validate_definitions(definitions, self._resolve)
        now = self.clock.now()
        next_fires = {d.name: first_fire(d, now) for d in definitions}
        report = await self.store.sync_tasks(definitions, sources, next_fires, now)
        self._changed()
        await audit.record_all(
            self.store, self.clock, self.actor, sync_changes(definitions, report), self.request_id
        )
        return report

    async def register_missing(self, definitions: Sequence[TaskDefinition]) -> list[str]:
        """Create the ``definitions`` the store lacks, so that a producer (the Python app, a
        CLI command with a config) can enqueue, trigger and list the jobs it knows before any
        process has synced them; returns the names created (audited as ``job.create``).

        Never changes or removes a stored task: what a definition is, once stored, is decided
        by the start-up sync of the processes that run it. Safe to race with those syncs and
        with other producers. The task functions are not imported here (a producer need not
        be able to)."""
        if not definitions:
            return []
        known = {t.name for t in await self.store.get_tasks([d.name for d in definitions])}
        missing = [d for d in definitions if d.name not in known]
        if not missing:
            return []
        validate_definitions(missing, resolve=None)
        now = self.clock.now()
        next_fires = {d.name: first_fire(d, now) for d in missing}
        created = set(await self.store.add_missing_tasks(missing, next_fires, now))
        if created:
            self._changed()
        changes = [
            audit.Change("job.create", "job", d.name, after=audit_table(d))
            for d in missing
            if d.name in created
        ]
        await audit.record_all(self.store, self.clock, self.actor, changes, self.request_id)
        return [d.name for d in missing if d.name in created]

    async def get_task(self, name: str) -> Task:
        task = await self.store.get_task(name)
        if task is None:
            raise NotFoundError(f"no job named {name!r}")
        return task

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]:
        return await self.store.list_tasks(include_removed=include_removed)

    async def search_tasks(self, query: TaskFilter) -> tuple[list[Task], dict[str, RunStatus]]:
        """The definitions matching ``query``, sorted, and each task's latest run status."""
        last = await self.store.last_run_statuses()
        return select_tasks(await self.list_tasks(), last, query), last

    async def set_enabled(self, name: str, enabled: bool) -> Task:
        task = await self.get_task(name)
        now = self.clock.now()
        defn = dataclasses.replace(task.definition, enabled=enabled)
        next_fire = None if task.removed else first_fire(defn, now)
        if task.definition.enabled and enabled and task.next_fire_at is not None:
            next_fire = task.next_fire_at  # already enabled: keep its rhythm
        updated = await self.store.set_task_enabled(name, enabled, next_fire, now)
        self._changed()
        assert updated is not None
        await self._audit(
            "job.enable" if enabled else "job.disable",
            "job",
            name,
            before={"enabled": task.definition.enabled},
            after={"enabled": enabled},
        )
        return updated

    def _changed(self) -> None:
        if self._on_schedules_changed:
            self._on_schedules_changed()

    # --- jobs ------------------------------------------------------------------------------
    async def _definition(self, name: str) -> TaskDefinition:
        defn = await self._tasks.get(name)
        if defn is None:
            raise NotFoundError(f"no job named {name!r}")
        return defn

    def _new_job(
        self,
        defn: TaskDefinition,
        req: EnqueueRequest,
        now: datetime,
        triggered_by: TriggeredBy,
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
        args, kwargs = self._arguments(defn, req)
        deadline_job = None
        if on_deadline is not None:
            self._check_watchdog(on_deadline)
            deadline_job = NewJob(
                task_name=on_deadline.name,
                scheduled_at=_deadline(req, when),
                triggered_by=triggered_by,
                max_attempts=on_deadline.max_attempts,
                priority=on_deadline.priority,
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
        )

    def _arguments(
        self, defn: TaskDefinition, req: EnqueueRequest
    ) -> tuple[list[Any], dict[str, Any]]:
        """The arguments a job of ``defn`` is called with (``domain.arguments.combine``: the
        caller's override the definition's), checked against the task's signature where this
        process can import it; ``ConfigError`` naming the job and the argument otherwise."""
        signature = self._signature(defn)
        args, kwargs = combine(defn.args, defn.kwargs, req.args, req.kwargs, signature)
        try:
            check_json(req.args, req.kwargs)  # the definition's were checked when written
            if signature is not None:
                # Whether a call fits depends on how many args and which kwargs it has only:
                # a shape that fitted once is not checked again (bulk enqueues repeat one).
                shape = (id(signature), len(args), *kwargs)
                if shape not in self._fitting:
                    check_call(signature, args, kwargs)
                    if len(self._fitting) >= MAX_REMEMBERED_SHAPES:
                        self._fitting.clear()
                    self._fitting.add(shape)
        except ConfigError as exc:
            raise exc.for_job(defn.name) from None
        return args, kwargs

    def _check_watchdog(self, alarm: TaskDefinition) -> None:
        """The ``on_deadline`` task is called with ``job_id`` and ``task`` (``NewJob.watchdog``)."""
        signature = self._signature(alarm)
        if signature is None:
            return
        try:
            check_call(signature, [], {"job_id": 0, "task": ""})
        except ConfigError as exc:
            raise ConfigError(
                f"job {alarm.name!r} cannot be called with job_id and task: {exc.reason}",
                field="on_deadline",
            ) from None

    def _signature(self, defn: TaskDefinition) -> inspect.Signature | None:
        """The signature of a Python task's function, resolved once per path; None for other
        kinds, without a resolver, or when it cannot be imported here (e.g. a CLI on a host
        without the task's code): its arguments are then checked when it runs."""
        if self._resolve is None or not isinstance(defn.target, PythonTarget):
            return None
        path = defn.target.path
        if path not in self._signatures:
            try:
                self._signatures[path] = signature_of(self._resolve(path))
            except ConfigError:
                self._signatures[path] = None
        return self._signatures[path]

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
        if self.audit_enqueues and ids:
            target = str(ids[0]) if len(ids) == 1 else f"{len(ids)} jobs"
            await self._audit("queue_job.enqueue", "queue_job", target, after={"job_ids": ids})
        return ids

    async def _enqueue_many(
        self, reqs: Sequence[EnqueueRequest], triggered_by: TriggeredBy
    ) -> list[int]:
        now = self.clock.now()
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
            new_jobs.append(self._new_job(defn, r, now, triggered_by, alarm))
        ids = await self.store.enqueue(new_jobs, now)
        if self._on_enqueue:
            self._on_enqueue()
        return ids

    async def trigger(self, name: str, *, triggered_by: TriggeredBy = TriggeredBy.MANUAL) -> int:
        """Run a defined job now, ahead of scheduled work, whether or not it is enabled."""
        task = await self.get_task(name)
        if task.removed:
            raise ConfigError("was removed from the definitions; it cannot be triggered", job=name)
        req = EnqueueRequest(
            task_name=name,
            priority=task.definition.priority + TRIGGER_PRIORITY_BOOST,
            run_now=True,
        )
        # Audited as the trigger it is, not as an enqueue.
        (job_id,) = await self._enqueue_many([req], triggered_by)
        await self._audit("job.trigger", "job", name, after={"job_id": job_id})
        return job_id

    async def get_job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
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
        return await self.store.query_jobs(
            JobQuery(task_name=task_name, states=states, limit=limit)
        )

    async def query_jobs(self, query: JobQuery) -> list[Job]:
        """``ConfigError`` for a limit outside 1..1000."""
        _check_limit(query.limit)
        return await self.store.query_jobs(query)

    async def reschedule(self, job_id: int, at: datetime) -> Job:
        """Move a pending job to ``at`` (aware); audited. ``InvalidStateError`` otherwise."""
        if at.tzinfo is None:
            raise ConfigError(f"time {at.isoformat()} has no UTC offset", field="at")
        before = await self.get_job(job_id)
        job = await self.store.reschedule_job(job_id, at, self.clock.now())
        if job is None:
            raise NotFoundError(f"no job with ID {job_id}")
        if self._on_enqueue:
            self._on_enqueue()  # it may be due earlier than the worker is waiting for
        await self._audit(
            "queue_job.reschedule",
            "queue_job",
            str(job_id),
            before={"scheduled_at": before.scheduled_at.isoformat()},
            after={"scheduled_at": job.scheduled_at.isoformat()},
        )
        return job

    async def explain(self, job_id: int) -> Hold | None:
        """Why a pending job is not running now (X1); None if nothing holds it back."""
        await self.get_job(job_id)
        return await self.store.explain_hold(job_id, self.clock.now(), self.rules)

    async def reset_stuck(self, older_than_seconds: float) -> list[Job]:
        """Put jobs running for longer than ``older_than_seconds`` back in the queue, as if
        their worker had died (C4): their attempt is given back, and a job interrupted more
        than ``max_interruptions`` times fails instead. Returns them."""
        if not older_than_seconds > 0:
            raise ConfigError(f"must be > 0, got {older_than_seconds:g}", field="older_than")
        reason = f"reset by an operator: running longer than {format_duration(older_than_seconds)}"
        jobs = await self.store.reset_stuck(
            older_than_seconds,
            self.clock.now(),
            reason,
            max_interruptions=self.max_interruptions,
        )
        if jobs and self._on_enqueue:
            self._on_enqueue()
        await self._audit(
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
        job = await self.store.cancel_job(job_id, self.clock.now(), reason)
        if job is None:
            raise NotFoundError(f"no job with ID {job_id}")
        await self._audit(
            "queue_job.cancel",
            "queue_job",
            str(job_id),
            after={"task": job.task_name, "state": job.state.value, "reason": reason},
        )
        return job

    # --- history and status ---------------------------------------------------------------
    async def history(self, name: str, *, limit: int = 20) -> list[Run]:
        await self.get_task(name)
        return await self.store.query_runs(RunQuery(task_name=name, sort="id", limit=limit))

    async def query_runs(self, query: RunQuery) -> list[Run]:
        """``ConfigError`` for an unknown sort, a limit outside 1..1000, a naive time."""
        if query.sort not in RUN_SORTS:
            raise ConfigError(
                f"unknown sort {query.sort!r} (use {', '.join(RUN_SORTS)})", field="sort"
            )
        _check_limit(query.limit)
        if query.offset < 0:
            raise ConfigError(f"must be >= 0, got {query.offset}", field="offset")
        for name in ("started_from", "started_to"):
            when = getattr(query, name)
            if when is not None and when.tzinfo is None:
                raise ConfigError(f"time {when.isoformat()} has no UTC offset", field=name)
        return await self.store.query_runs(query)

    async def get_run(self, run_id: int) -> Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with ID {run_id}")
        return run

    async def runs_of_job(self, job_id: int) -> list[Run]:
        return await self.store.query_runs(RunQuery(job_id=job_id, sort="id", limit=1000))

    async def status(
        self, *, heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    ) -> Status:
        """Job counts by state, and each processor with its state and running jobs (C2)."""
        counts = await self.store.count_jobs_by_state()
        infos = await self.store.list_processors()
        running = await self.store.running_counts_by_worker()
        now = self.clock.now()
        lost_after = LOST_AFTER_HEARTBEATS * heartbeat_interval_seconds
        known = {p.id for p in infos}
        return Status(
            jobs_by_state=counts,
            processors=[
                ProcessorStatus(p, processor_state(p, now, lost_after), running.get(p.id, 0))
                for p in infos
            ],
            unregistered={w: n for w, n in sorted(running.items()) if w not in known},
        )

    async def queue_stats(self) -> QueueStats:
        """The queue now: counts by state, due jobs and the oldest of them, expired leases."""
        return await self.store.queue_stats(self.clock.now())

    async def process_now(self) -> int:
        """Wake every idle worker — this process's through its hook, other processes' by
        NOTIFY on PostgreSQL — so due jobs start now; returns how many are due."""
        if self._on_enqueue:
            self._on_enqueue()
        await self.store.notify_workers()
        return (await self.queue_stats()).due_now

    async def preview_job(
        self, name: str, after: datetime, count: int
    ) -> list[tuple[datetime, datetime]]:
        """The next ``count`` fires of a defined job after ``after``, each with when its job
        would run: the fire time, or the next opening of the job's calendar."""
        if count < 1:
            raise ConfigError(f"must be >= 1, got {count}", field="count")
        defn = (await self.get_task(name)).definition
        if defn.schedule is None:
            raise ConfigError("has no schedule", job=name, field="schedule")
        spec = defn.policies.calendar
        calendar = None if spec is None else calendar_of(spec)
        fires = next_fires(parse_schedule(defn.schedule, defn.timezone), after, count)
        return [(f, f if calendar is None else calendar.next_open(f)) for f in fires]


# The largest page of jobs or runs one query returns.
MAX_PAGE = 1000


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"must be from 1 to {MAX_PAGE}, got {limit}", field="limit")


_CALENDARS: dict[str, Calendar] = {}


def calendar_of(spec: dict[str, Any]) -> Calendar:
    """The calendar of a task's spec, parsed once per distinct spec."""
    key = json.dumps(spec, sort_keys=True, default=str)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = _CALENDARS[key] = calendar_from_spec(spec)
    return calendar


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


def preview(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of a schedule expression (for ``tickwork next``)."""
    if count < 1:
        raise ConfigError(f"must be >= 1, got {count}", field="count")
    schedule = parse_schedule(expression, timezone)
    out: list[datetime] = []
    for fire in schedule.iter_after(after):
        out.append(fire)
        if len(out) >= count:
            break
    return out
