"""The store's seam: role protocols, one per kind of caller, and ``Store``, all of them.

The runtime (worker, scheduler, reaper, heartbeat) needs ``RuntimeStore``; the use cases need
the rest. Docstrings are the contract (``tests/store/test_store_contract.py`` holds every
backend to it). Every method is a coroutine; every datetime in and out is aware UTC. Every
method is atomic: it commits all its changes or none. Stores speak domain types, never rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.dependencies import DependencyGraph, ReleasePass
from tickwork.domain.failures import FailedJob
from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Run, RunMark, RunStatus
from tickwork.domain.queries import (
    ControlState,
    FirePlanner,
    JobQuery,
    ProcessorInfo,
    QueueStats,
    RunQuery,
    RunStats,
    SyncReport,
    TaskFilter,
    TaskPage,
)
from tickwork.domain.tasks import (
    DEFAULT_MAX_INTERRUPTIONS,
    Task,
    TaskDefinition,
    TaskPause,
    TaskSource,
)
from tickwork.store.access import Accounts, AuditLog
from tickwork.store.alerting import Alerting
from tickwork.store.autoscheduling import AutoScheduling
from tickwork.store.backfilling import BackfillRelease, Backfills
from tickwork.store.checking import CheckReads, Checks
from tickwork.store.observing import (
    Activity,
    CheckHistory,
    Figures,
    Pruning,
    Rollups,
    RunEventWrites,
)


class Closeable(Protocol):
    """What ``watch`` returns: closing it stops the calls."""

    def close(self) -> None: ...


class Lifecycle(Protocol):
    """Connecting and being told of changes (every role)."""

    dialect: str  # "sqlite" or "postgresql"

    async def open(self) -> None:
        """Connect. Does not create or migrate the schema (see ``tickwork.store.migrate``)."""

    async def close(self) -> None:
        """Release connections and threads; safe to call twice."""

    async def ping(self) -> None:
        """One round trip to the database; raises ``StoreError`` when it is unreachable."""
        ...

    def watch(
        self, on_change: Callable[[], None] | None, on_alerts: Callable[[], None] | None = None
    ) -> Closeable:
        """Call ``on_change`` (possibly from another thread) soon after the store changes, or
        never if the backend cannot tell; callers keep polling as a fallback.

        On PostgreSQL it is called when another transaction made jobs due or pending (enqueue,
        fire, retry, release, recovery): those send ``NOTIFY`` in the same transaction; and
        ``on_alerts`` after any process's ``notify_alerts``, on the same LISTEN."""
        ...


class JobQueue(Protocol):
    """The worker's side of the queue: jobs in, claimed, their attempts recorded, and the jobs
    of a stopping or dead worker taken back."""

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

    async def extend_leases(self, worker_id: str, job_ids: Sequence[int], until: datetime) -> None:
        """Push the leases of the worker's running jobs to ``until``."""
        ...

    async def cancel_requests(self, worker_id: str) -> list[int]:
        """The worker's running jobs that someone asked to stop (cancel, overlap=replace)."""
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

    async def next_due_time(self) -> datetime | None:
        """The earliest ``scheduled_at`` of pending jobs."""
        ...


class Schedules(Protocol):
    """The scheduler's side: firing due schedules."""

    async def fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, *, horizon: datetime | None = None
    ) -> tuple[int, list[int]]:
        """Fire up to ``limit`` schedules due by ``horizon`` (default ``now``), earliest first,
        in one transaction. Jobs for fires still ahead of ``now`` are created ``scheduled``.
        The fires' ``missed`` records are written in the same transaction (``recorded_at``
        ``now``), each linked to the skipped job of its fire when it has one.

        The due schedules are locked while ``plan`` (pure, called on the store's thread) decides
        each fire, so concurrent schedulers share the due schedules between them instead of
        firing one twice; the jobs are created and the schedules advanced before commit.
        Returns how many schedules were handled and the IDs of the jobs created.
        """
        ...

    async def next_fire_time(self) -> datetime | None:
        """When the scheduler next has work: the earliest ``next_fire_at`` of enabled, not
        removed, not paused tasks, or the end of a pause (if later than the task's fire)."""
        ...


class TaskReads(Protocol):
    """Stored task definitions, read."""

    async def get_task(self, name: str) -> Task | None: ...

    async def get_tasks(self, names: Sequence[str]) -> list[Task]:
        """The tasks of these names that exist, in one query (any order)."""
        ...

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]: ...

    async def search_tasks(
        self,
        query: TaskFilter,
        now: datetime,
        *,
        after: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> TaskPage:
        """The tasks ``query`` selects at ``now`` (a pause whose end has come is none), in its
        order: ``limit`` of them (None: all) from ``offset`` on, after the name ``after``
        (keyset; name order only, else ``ConfigError``). ``TaskPage.last`` is left empty. Only
        the page's tasks are read whole; the filter runs on the stored columns, the latest run's
        status (``TaskFilter.last_status``) included: each task's latest run is kept as runs
        are recorded, taken back, or pruned."""
        ...


class Processors(Protocol):
    """The processes of a deployment: their registrations and heartbeats."""

    async def heartbeat(self, info: ProcessorInfo) -> None:
        """Insert or update a processor's row (its heartbeat, or its stop time)."""
        ...

    async def list_processors(self) -> list[ProcessorInfo]: ...


class ControlReads(Protocol):
    """The cluster-wide run-time control, read (every worker follows it)."""

    async def get_control(self) -> ControlState: ...


class Definitions(TaskReads, Protocol):
    """Changing task definitions: a process's sync, a producer's registration, the API's
    single changes."""

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

    async def set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        """Enable or disable a task, setting its next fire time; None if there is no such task."""
        ...

    async def pause_task(self, name: str, pause: TaskPause) -> Task | None:
        """Set a task's pause (its schedule, definition and ``updated_at`` stay as they are);
        None if there is no such task."""
        ...

    async def resume_task(
        self,
        name: str,
        paused_at: datetime,
        next_fire_at: datetime | None,
        missed: Sequence[NewMissedFire],
        now: datetime,
    ) -> Task | None:
        """End the task's pause that began at ``paused_at``, setting its next fire time and
        recording ``missed`` (``recorded_at`` ``now``) in one transaction. If that pause is
        no longer stored (the scheduler cleared it at its end, or it was replaced), nothing
        changes. The task as it is then; None if there is no such task."""
        ...


class JobOperations(Protocol):
    """An operator's actions on jobs."""

    async def cancel_job(self, job_id: int, now: datetime, reason: str) -> Job | None:
        """Cancel a pending job, or ask the worker of a running one to stop it (the worker
        records the run as cancelled); returns the job, or None if it does not exist.

        Raises ``InvalidStateError`` if the job has finished. Its watchdogs stay: a cancelled
        job did not complete in time.
        """
        ...

    async def reschedule_job(
        self, job_id: int, scheduled_at: datetime, now: datetime
    ) -> Job | None:
        """Move a pending job to ``scheduled_at`` (``scheduled`` if in the future, else
        ``available``); None if no such job, ``InvalidStateError`` if it is not pending."""
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

    async def explain_hold(
        self, job_id: int, now: datetime, rules: ClaimRules | None = None
    ) -> Hold | None:
        """Why a pending job is not running now: not due yet (until when), or the policy that
        holds it back (``domain.admission``); None when nothing holds it or it is not pending."""
        ...

    async def explain_holds(
        self, job_ids: Sequence[int], now: datetime, rules: ClaimRules | None = None
    ) -> dict[int, Hold]:
        """``explain_hold`` of many jobs in one read (a page of the queue), by ID; jobs that
        nothing holds or that are not pending are absent."""
        ...

    async def notify_workers(self) -> None:
        """Wake the idle workers of every process soon (``POST /api/cron/trigger``): on
        PostgreSQL a ``NOTIFY``; SQLite workers see commits and poll, so nothing is sent."""
        ...


class Queries(Protocol):
    """Jobs and runs, read by ID or page by page."""

    async def get_job(self, job_id: int) -> Job | None: ...

    async def query_jobs(self, query: JobQuery) -> list[Job]:
        """A page of jobs as ``query`` says (``JobQuery``: newest first unless ``oldest_first``;
        ``states`` None or empty means any state)."""
        ...

    async def get_run(self, run_id: int) -> Run | None: ...

    async def query_runs(self, query: RunQuery) -> list[Run]:
        """A page of runs as ``query`` says (``RunQuery``: by ``sort``, then id, descending unless
        ``ascending``; ``sort="id"`` is the order they were recorded in)."""
        ...

    async def last_run_statuses(self, task_names: Sequence[str]) -> dict[str, RunStatus]:
        """The status of the newest run of each of ``task_names`` (by start, as
        ``recent_runs``), in one round trip; tasks without runs are absent."""
        ...

    async def recent_runs(
        self, task_names: Sequence[str], per_task: int
    ) -> dict[str, list[RunMark]]:
        """The newest ``per_task`` runs (by start) of each of ``task_names``, newest first, in
        one round trip; every name is a key (an empty list without runs)."""
        ...


class Failures(Protocol):
    """Failed jobs read for grouping by error, and the groups' acknowledgements."""

    async def failed_jobs(
        self, start: datetime, end: datetime, task_name: str | None, limit: int
    ) -> list[FailedJob]:
        """The jobs in state failed or timeout with ``start <= finished_at < end`` (of one
        task if given), newest first (finished_at, then id), at most ``limit``, each with its
        last run's (largest ID) error; the job's ``last_error`` as the message when the run
        has none or there is no run. Reads an index of failed jobs, not the history."""
        ...

    async def failure_acks(self, fingerprints: Sequence[str]) -> dict[str, datetime]:
        """The ``acknowledged_until`` of those of ``fingerprints`` that have one."""
        ...

    async def acknowledge_failures(
        self, fingerprint: str, until: datetime, now: datetime, by: str
    ) -> None:
        """Acknowledge the failures of ``fingerprint`` that finished at or before ``until``
        (kept if an earlier call acknowledged up to a later time); ``by``: who did."""
        ...


class Stats(Protocol):
    """Figures over the queue and the run history."""

    async def count_jobs_by_state(self, *, finished: bool = True) -> dict[JobState, int]:
        """How many jobs are in each state (every state a key). Without ``finished``, only
        the active states (pending and running) are counted and are keys: through their
        partial indexes, where the finished ones take a scan of every job."""
        ...

    async def running_counts_by_worker(self) -> dict[str, int]:
        """How many jobs each worker (by ``worker_id``, i.e. processor ID) is running now;
        workers running none are absent."""
        ...

    async def queue_stats(self, now: datetime, *, finished: bool = True) -> QueueStats:
        """The queue at ``now``; ``by_state`` as ``count_jobs_by_state(finished=...)``."""
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


class Control(ControlReads, Protocol):
    """The run-time control, read and changed."""

    async def set_control(self, state: ControlState) -> ControlState:
        """Replace the control state (``updated_at``/``updated_by`` as given)."""
        ...


class Releases(Protocol):
    """Releasing downstream jobs (``after``) from their upstreams' final runs
    (``runtime.releaser``)."""

    async def release_dependents(
        self,
        graph: DependencyGraph,
        templates: Mapping[str, NewJob],
        now: datetime,
        *,
        settled: int | None,
        skip: frozenset[int] = frozenset(),
        limit: int = 500,
    ) -> ReleasePass | None:
        """One pass, in one transaction: the final runs (their job ended with them) of the
        graph's upstreams with IDs above the durable cursor (at most ``limit``, by ID; those in
        ``skip``, handled already, left out). For each run and each edge whose ``on`` counts
        its status, the downstream's job (``templates``: a task without one is not released)
        is created ``available`` at ``now``, ``triggered_by`` ``dependency``, with
        ``released_by_run_id`` the run, once: when each upstream of the downstream has such a
        run above the downstream's last release (fan-in), and at most once per (downstream,
        run) whatever happens (a unique index). The cursor then moves to the last run read (or
        the newest run when fewer than ``limit`` were read), but not beyond ``settled`` (None:
        no bound; PostgreSQL commits runs out of ID order). The first pass only sets the
        cursor to the newest run: runs before it release nothing. None when another process
        holds the pass (PostgreSQL: a transaction-scoped advisory lock)."""
        ...


class RuntimeStore(
    Lifecycle,
    JobQueue,
    Schedules,
    Releases,
    TaskReads,
    Processors,
    ControlReads,
    RunEventWrites,
    Pruning,
    Alerting,
    AutoScheduling,
    CheckReads,
    BackfillRelease,
    Protocol,
):
    """What the processes' runtime needs: the worker, the scheduler, the reaper, heartbeats,
    the alert evaluator and the deliveries of its notices."""


class Store(
    RuntimeStore,
    Definitions,
    JobOperations,
    Queries,
    Failures,
    Stats,
    Figures,
    Control,
    Accounts,
    AuditLog,
    Activity,
    Rollups,
    Checks,
    CheckHistory,
    Backfills,
    Protocol,
):
    """Every role: persistence for tasks, jobs, runs, processors, accounts, audit and control."""
