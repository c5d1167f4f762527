"""The Store protocol: the one seam between engine and database. Docstrings are the contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tickwork.domain.access import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    NewAuditEntry,
    Role,
    Scope,
    User,
)
from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Run, RunStatus
from tickwork.domain.limits import Policies

# The query and report types are domain types; re-exported here (``as``: explicitly) for the
# store modules that still import them from the protocol's module.
from tickwork.domain.queries import RUN_SORTS as RUN_SORTS
from tickwork.domain.queries import ControlState as ControlState
from tickwork.domain.queries import JobQuery as JobQuery
from tickwork.domain.queries import ProcessorInfo as ProcessorInfo
from tickwork.domain.queries import QueueStats as QueueStats
from tickwork.domain.queries import RunQuery as RunQuery
from tickwork.domain.queries import RunStats as RunStats
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS, Task, TaskDefinition, TaskSource


@dataclass(frozen=True)
class SyncReport:
    """What ``Store.sync_tasks`` changed, by task name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # The updated and removed tasks as they were stored before the sync (for the audit log).
    previous: dict[str, Task] = field(default_factory=dict)


@dataclass(frozen=True)
class Fire:
    """One schedule fire to record.

    ``previous_next_fire_at`` is the task's ``next_fire_at`` the scheduler read; the store applies
    the fire only if it is still the same, so two schedulers never both advance one schedule.
    ``job`` is None when the fire is skipped (e.g. a misfire); the schedule still advances.
    """

    task_name: str
    previous_next_fire_at: datetime
    next_fire_at: datetime | None
    job: NewJob | None
    # overlap=replace: cancel the task's pending jobs and ask its running ones to stop.
    cancel_active: bool = False
    extra_jobs: tuple[NewJob, ...] = ()  # more jobs of the same fire round (misfire catch-up)


@dataclass(frozen=True)
class DueSchedule:
    """What the scheduler needs of a task whose schedule has come due."""

    task_name: str
    schedule: str
    timezone: str
    next_fire_at: datetime
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    max_attempts: int
    policies: Policies = field(default_factory=Policies)
    active_jobs: int = 0  # the task's jobs pending or running now (for the overlap policy)


# Decides, for one due schedule, the job to create (if any) and the next fire time.
FirePlanner = Callable[[DueSchedule], Fire]


class Closeable(Protocol):
    def close(self) -> None: ...


class Store(Protocol):
    """Persistence for tasks, jobs, runs and processors.

    Every method is a coroutine; every datetime in and out is aware UTC. Every method is atomic:
    it commits all its changes or none. Stores speak domain types, never rows.
    """

    dialect: str

    async def open(self) -> None:
        """Connect. Does not create or migrate the schema (see ``tickwork.store.migrate``)."""

    async def close(self) -> None:
        """Release connections and threads; safe to call twice."""

    def watch(self, on_change: Callable[[], None]) -> Closeable:
        """Call ``on_change`` (possibly from another thread) soon after the store changes, or
        never if the backend cannot tell; callers keep polling as a fallback.

        On PostgreSQL it is called when another transaction made jobs due or pending (enqueue,
        fire, retry, release, recovery): those send ``NOTIFY`` in the same transaction."""
        ...

    # --- tasks -----------------------------------------------------------------------------
    async def sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        """Make the stored tasks of ``sources`` equal ``definitions``, in one transaction.

        New names are created, changed ones updated (their run history untouched), and stored
        tasks of those sources that are absent get ``removed_at`` set and stop firing; they keep
        their jobs and runs. A removed task that reappears is restored. ``next_fires`` gives the
        next fire time for tasks whose schedule is new or changed (or that are created/restored);
        unchanged schedules keep their stored ``next_fire_at``. The ``enabled`` of a definition
        applies only when its task is created: afterwards it is the operator's switch. The
        report's ``previous`` holds each updated or removed task as it was before.
        """
        ...

    async def add_missing_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> list[str]:
        """Create the tasks of ``definitions`` whose names no stored task has (removed ones
        count as stored), each with its definition's source and its ``next_fires`` time (None
        if absent); returns the names created. A stored task is never changed or removed: that
        is ``sync_tasks``'s, at a process's start.

        Safe under concurrent calls and syncs from any number of processes: each name is
        created once, and neither this nor a concurrent ``sync_tasks`` fails for it.
        """
        ...

    async def get_task(self, name: str) -> Task | None: ...

    async def get_tasks(self, names: Sequence[str]) -> list[Task]:
        """The tasks of these names that exist, in one query (any order)."""
        ...

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]: ...

    async def set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        """Enable or disable a task, setting its next fire time; None if there is no such task."""
        ...

    # --- scheduling -----------------------------------------------------------------------
    async def due_tasks(self, now: datetime, limit: int) -> list[Task]:
        """Enabled, not removed tasks whose ``next_fire_at <= now``, earliest first (then by
        name)."""
        ...

    async def next_fire_time(self) -> datetime | None:
        """The earliest ``next_fire_at`` of enabled, not removed tasks."""
        ...

    async def fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, *, horizon: datetime | None = None
    ) -> tuple[int, list[int]]:
        """Fire up to ``limit`` schedules due by ``horizon`` (default ``now``), earliest first,
        in one transaction. Jobs for fires still ahead of ``now`` are created ``scheduled``.

        The due schedules are locked while ``plan`` (pure, called on the store's thread) decides
        each fire, so concurrent schedulers share the due schedules between them instead of
        firing one twice; the jobs are created and the schedules advanced before commit.
        Returns how many schedules were handled and the IDs of the jobs created.
        """
        ...

    async def record_fires(self, fires: Sequence[Fire], now: datetime) -> list[int]:
        """Apply fires in one transaction: create their jobs and advance each schedule.

        A fire whose task's ``next_fire_at`` no longer equals ``previous_next_fire_at`` is
        ignored. A job for a (task, fire_at) pair that already exists is not created twice.
        Returns the IDs of the jobs created.
        """
        ...

    # --- jobs --------------------------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob], now: datetime) -> list[int]:
        """Create jobs in one transaction; returns their IDs in order (one per given job).

        A job is ``available`` when ``scheduled_at <= now``, else ``scheduled``.

        Unique keys: a job whose ``unique_key`` is held by an active job (scheduled, available,
        retrying or running) is not created; its position gets the existing job's ID. With
        ``unique_for_seconds`` N, the same holds for a job of that key that finished at or after
        ``now - N`` (the latest one, if no active job holds the key). Two jobs of one call with
        the same key make one job, whose ID both positions get. This holds under concurrent
        calls from any number of processes: a key never has two active jobs.

        Deadlines: a job that is created with a ``deadline_job`` also creates, in the same
        transaction, that watchdog (``NewJob.watchdog``: ``watch_job_id`` = the job's ID,
        ``kwargs`` ``job_id`` and ``task``). A job not created (its key was held) creates no
        watchdog. Watchdog IDs are not returned.
        """
        ...

    async def get_job(self, job_id: int) -> Job | None: ...

    async def list_jobs(
        self,
        *,
        task_name: str | None = None,
        states: Sequence[JobState] | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; ``states`` None or empty means any state."""
        ...

    async def cancel_job(self, job_id: int, now: datetime, reason: str) -> Job | None:
        """Cancel a pending job, or ask the worker of a running one to stop it (the worker
        records the run as cancelled); returns the job, or None if it does not exist.

        Raises ``InvalidStateError`` if the job has finished. Its watchdogs stay: a cancelled
        job did not complete in time.
        """
        ...

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
        *,
        horizon: datetime | None = None,
        rules: ClaimRules | None = None,
    ) -> list[Job]:
        """Move up to ``limit`` pending jobs due by ``horizon`` (default ``now``) to ``running``
        for ``worker_id``, atomically. (A worker claims slightly ahead and starts each job at its
        ``scheduled_at``, so that precise fires are not late by the claim's own duration.)

        Jobs that a policy holds back are passed over (``domain.admission``: per-key and
        per-task concurrency, rate limits, cooldowns, with ``rules`` the process-wide limits);
        the limits hold across every worker of the store, and the limiter states change in the
        same transaction.

        Order: highest priority first, then earliest ``scheduled_at``, then lowest id. Each
        claimed job's ``attempt`` is incremented, ``started_at`` set to ``now`` and its lease
        runs until ``now + lease_seconds``. No job is ever returned to two callers.
        """
        ...

    async def explain_hold(
        self, job_id: int, now: datetime, rules: ClaimRules | None = None
    ) -> Hold | None:
        """Why a pending job is not running now: not due yet (until when), or the policy that
        holds it back (``domain.admission``); None when nothing holds it or it is not pending."""
        ...

    async def cancel_requests(self, worker_id: str) -> list[int]:
        """The worker's running jobs that someone asked to stop (cancel, overlap=replace)."""
        ...

    async def extend_leases(self, worker_id: str, job_ids: Sequence[int], until: datetime) -> None:
        """Push the leases of the worker's running jobs to ``until``."""
        ...

    async def complete(self, completions: Sequence[Completion]) -> list[int]:
        """Write finished attempts in one transaction: a run record each, and the job's new
        state (``retry_at`` becomes its ``scheduled_at`` when retrying). A completion for a job
        that is no longer running that attempt for that worker (it was released, reaped or
        cancelled meanwhile) still records its run but leaves the job alone.

        A job that becomes ``succeeded`` here cancels, in the same transaction, its pending
        watchdogs (jobs whose ``watch_job_id`` is its ID), with ``last_error`` "watched job N
        succeeded in time". Any other outcome leaves them to fire at the deadline.

        Returns the IDs of the run records written, in the order of ``completions``.
        """
        ...

    async def release(
        self,
        worker_id: str,
        job_ids: Sequence[int],
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> int:
        """The worker's running jobs among ``job_ids`` were interrupted by its stop: each is
        taken back as ``recover_expired`` describes. Returns how many."""
        ...

    async def recover_expired(
        self, now: datetime, reason: str, *, max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    ) -> list[Job]:
        """Jobs ``running`` with ``lease_expires_at <= now`` (their worker died) were
        interrupted. Each gets an ``interrupted`` run with ``reason`` and goes back to
        ``available`` (due now) with ``max_attempts`` one higher: a crash is not the job's
        failure and spends no retry, while attempt numbers keep counting claims (so a late
        result of the interrupted attempt is never taken for the next one's). A job
        interrupted more often than its task's
        ``max_interruptions`` (``max_interruptions`` here when the task sets none), counting
        its earlier ``interrupted`` runs and this one, goes to ``failed`` instead, its
        ``last_error`` saying so (``domain.policies.interrupted_state``). Returns the jobs as
        they are afterwards."""
        ...

    async def reset_stuck(
        self,
        older_than_seconds: float,
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> list[Job]:
        """Jobs ``running`` since ``now - older_than_seconds`` or earlier (``started_at``),
        whatever their lease, were interrupted: each is taken back as in ``recover_expired``.
        A worker still running one is not stopped; its late result is recorded as a run and
        leaves the job alone (see ``complete``). Returns the jobs as they are afterwards."""
        ...

    async def next_due_time(self) -> datetime | None:
        """The earliest ``scheduled_at`` of pending jobs."""
        ...

    async def count_jobs_by_state(self) -> dict[JobState, int]: ...

    async def running_counts_by_worker(self) -> dict[str, int]:
        """How many jobs each worker (by ``worker_id``, i.e. processor ID) is running now;
        workers running none are absent."""
        ...

    # --- runs --------------------------------------------------------------------------------
    async def list_runs(
        self, *, task_name: str | None = None, job_id: int | None = None, limit: int = 50
    ) -> list[Run]:
        """Newest first."""
        ...

    # --- processors ------------------------------------------------------------------------
    async def heartbeat(self, info: ProcessorInfo) -> None:
        """Insert or update a processor's row (its heartbeat, or its stop time)."""
        ...

    async def list_processors(self) -> list[ProcessorInfo]: ...

    # --- single task changes (definitions made over the API) --------------------------------
    async def create_task(
        self,
        definition: TaskDefinition,
        source: TaskSource,
        next_fire_at: datetime | None,
        now: datetime,
    ) -> Task:
        """Insert one task; ``ConflictError`` if a task of that name exists (even removed)."""
        ...

    async def update_task(
        self, definition: TaskDefinition, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        """Replace a task's definition (its ``enabled`` included) and next fire time, keeping
        its source, jobs and runs; None if there is no such task."""
        ...

    async def remove_task(self, name: str, now: datetime) -> Task | None:
        """Mark a task removed (it stops firing, keeps its history) and cancel its pending
        jobs; None if there is no such task."""
        ...

    # --- queries ------------------------------------------------------------------------------
    async def query_jobs(self, query: JobQuery) -> list[Job]: ...

    async def query_runs(self, query: RunQuery) -> list[Run]: ...

    async def get_run(self, run_id: int) -> Run | None: ...

    async def last_run_statuses(self) -> dict[str, RunStatus]:
        """Each task's most recent run's status (the latest recorded); tasks without runs are
        absent."""
        ...

    async def reschedule_job(
        self, job_id: int, scheduled_at: datetime, now: datetime
    ) -> Job | None:
        """Move a pending job to ``scheduled_at`` (``scheduled`` if in the future, else
        ``available``); None if no such job, ``InvalidStateError`` if it is not pending."""
        ...

    async def run_stats(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        """Per task, runs with ``start <= started_at < end`` (skipped/deferred/interrupted
        runs count in ``runs`` only), sorted by task name."""
        ...

    async def runs_by_hour(self, start: datetime, end: datetime) -> dict[int, int]:
        """Runs started in the range by UTC hour of day (0-23); hours without runs absent."""
        ...

    async def queue_stats(self, now: datetime) -> QueueStats: ...

    async def notify_workers(self) -> None:
        """Wake the idle workers of every process soon (``POST /api/cron/trigger``): on
        PostgreSQL a ``NOTIFY``; SQLite workers see commits and poll, so nothing is sent."""
        ...

    async def ping(self) -> None:
        """One round trip to the database; raises ``StoreError`` when it is unreachable."""
        ...

    # --- run-time control ----------------------------------------------------------------
    async def get_control(self) -> ControlState: ...

    async def set_control(self, state: ControlState) -> ControlState:
        """Replace the control state (``updated_at``/``updated_by`` as given)."""
        ...

    # --- accounts ------------------------------------------------------------------------------
    async def create_user(
        self, name: str, password_hash: str | None, role: Role, now: datetime
    ) -> User:
        """``ConflictError`` if the name is taken."""
        ...

    async def get_user(self, name: str) -> User | None: ...

    async def get_password_hash(self, name: str) -> str | None:
        """The stored hash of an enabled user's password; None if none or no such user."""
        ...

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        """Store a rehashed password (argon2 parameters changed)."""
        ...

    async def list_users(self) -> list[User]: ...

    async def count_users(self) -> int:
        """Enabled users only."""
        ...

    async def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled_at: datetime | None = None,
        enable: bool = False,
    ) -> User | None:
        """Change a user's role, disable it (``disabled_at``) or re-enable it; disabling also
        revokes its tokens in the same transaction. None if no such user."""
        ...

    async def create_token(
        self,
        user_id: int,
        name: str,
        scopes: frozenset[Scope],
        secret_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiToken: ...

    async def get_token(self, token_id: int) -> tuple[ApiToken, str, User] | None:
        """A token with its secret hash and its user, for authentication."""
        ...

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]: ...

    async def revoke_token(self, token_id: int, now: datetime) -> ApiToken | None:
        """Revoke (idempotent: an already revoked token keeps its time); None if no such."""
        ...

    async def touch_token(self, token_id: int, now: datetime) -> None:
        """Record that a token was used now."""
        ...

    # --- audit -----------------------------------------------------------------------------------
    async def add_audit(self, entry: NewAuditEntry) -> int: ...

    async def add_audits(self, entries: Sequence[NewAuditEntry]) -> None:
        """Add entries in one transaction, their IDs ascending in the given order."""
        ...

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first, or oldest first when ``after_id`` is given."""
        ...
