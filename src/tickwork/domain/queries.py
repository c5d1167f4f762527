"""Queries and reports that cross the store seam: what the use cases and the runtime ask of a
store, and what it answers besides domain objects.

Pure types, shared by the store (which answers them), the runtime and the use cases (which check
and pass them on); adapters take them from ``tickwork.service``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tickwork.domain.activity import NewMissedFire
from tickwork.domain.jobs import JobState, NewJob, RunStatus, TriggeredBy
from tickwork.domain.limits import Policies
from tickwork.domain.tasks import Task, TaskKind, TaskPause
from tickwork.errors import ConfigError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    """One schedule fire, as a ``FirePlanner`` decides it for a due schedule.

    ``previous_next_fire_at`` is the due schedule's ``next_fire_at`` (the time of this fire; it
    becomes the task's ``last_fire_at``), ``next_fire_at`` the schedule's next one (None: no
    more). ``job`` is None when the fire is skipped (e.g. a misfire); the schedule still advances.
    ``missed`` records the fires that did not become runs, with their reasons.
    """

    task_name: str
    previous_next_fire_at: datetime
    next_fire_at: datetime | None
    job: NewJob | None
    # overlap=replace: cancel the task's pending jobs and ask its running ones to stop.
    cancel_active: bool = False
    extra_jobs: tuple[NewJob, ...] = ()  # more jobs of the same fire round (misfire catch-up)
    missed: tuple[NewMissedFire, ...] = ()


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
    # The task's pause, if any: the store hands out only tasks whose pause is over by then.
    pause: TaskPause | None = None
    # Auto-rescheduling's override (domain.autoschedule): every n-th fire, each this much
    # later; held: auto-disabled (the circuit breaker is open), it does not fire.
    auto_stride: int = 1
    auto_offset_seconds: int = 0
    auto_held: bool = False
    # The task's ``requires`` not met at this fire, described (``Requirement.describe``): the
    # fire does not run (a missed fire ``dependency``). Found by the store as it fires.
    unmet: tuple[str, ...] = ()


# Decides, for one due schedule, the job to create (if any) and the next fire time.
FirePlanner = Callable[[DueSchedule], Fire]


@dataclass(frozen=True)
class ProcessorInfo:
    """A tickwork process as registered in the store: its role, where it runs, its heartbeat."""

    id: str
    role: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True)
class JobQuery:
    """A page of jobs. Newest first (by id) unless ``oldest_first``; cursors are job IDs."""

    task_name: str | None = None
    states: Sequence[JobState] | None = None  # None or empty: any state
    key: str | None = None
    before_id: int | None = None  # only ids < before_id (the next page, newest first)
    after_id: int | None = None  # only ids > after_id (followers, e.g. "created since")
    oldest_first: bool = False
    limit: int = 100
    fire_from: datetime | None = None  # a schedule's jobs with fire_at >= fire_from
    fire_to: datetime | None = None  # ... and fire_at <= fire_to


@dataclass(frozen=True)
class RunQuery:
    """A page of runs, filtered. Sorted by ``sort`` (``started_at``, ``finished_at``,
    ``duration``, ``id``: the order runs were recorded in) then id, descending unless
    ``ascending``; ``before_id``/``after_id`` are id cursors that apply with the default sort
    (newest first / oldest first)."""

    task_name: str | None = None
    job_id: int | None = None
    statuses: Sequence[RunStatus] | None = None
    triggered_by: Sequence[TriggeredBy] | None = None
    started_from: datetime | None = None  # started_at >= started_from
    started_to: datetime | None = None  # started_at < started_to
    before_id: int | None = None
    after_id: int | None = None
    sort: str = "started_at"
    ascending: bool = False
    offset: int = 0
    limit: int = 50


RUN_SORTS = ("started_at", "finished_at", "duration", "id")

NEVER_RAN = "never"  # the last-status filter of definitions without any run
FAILING = "failing"  # the last-status filter of definitions whose latest run failed or timed out
FAILING_STATUSES = (RunStatus.FAILED, RunStatus.TIMEOUT)
LAST_STATUSES = (NEVER_RAN, FAILING, *(status.value for status in RunStatus))
TASK_SORTS = ("name", "next_fire_at", "updated_at")


@dataclass(frozen=True)
class TaskFilter:
    """Which definitions a list shows; None matches anything. A task's latest run is its
    newest by start (ties: the one recorded last), as ``Store.recent_runs`` orders them.
    ``ConfigError`` naming the field for an unknown sort or status."""

    name: str | None = None  # part of the name, any case
    tag: str | None = None
    kind: TaskKind | None = None
    enabled: bool | None = None
    removed: bool | None = None
    paused: bool | None = None  # as the tasks are read (a pause that is over is none)
    last_status: str | None = None  # a RunStatus value, NEVER_RAN or FAILING
    sort: str = "name"  # TASK_SORTS; next_fire_at puts never-firing ones last

    def __post_init__(self) -> None:
        if self.sort not in TASK_SORTS:
            raise ConfigError(
                f"unknown sort {self.sort!r}; sorts are {', '.join(TASK_SORTS)}", field="sort"
            )
        if self.last_status is not None and self.last_status not in LAST_STATUSES:
            raise ConfigError(
                f"unknown status {self.last_status!r}; statuses are {', '.join(LAST_STATUSES)}",
                field="status",
            )


class TaskKey(NamedTuple):
    """What a list of definitions is sorted by (the times only for the sorts that use them)."""

    name: str
    next_fire_at: datetime | None = None
    updated_at: datetime | None = None


def sort_task_keys(keys: list[TaskKey], sort: str) -> None:
    """Sort ``keys`` in place in the order of ``sort`` (by name within equal keys):
    ``next_fire_at`` soonest first, never-firing ones last (among them, by last change);
    ``updated_at`` newest first."""
    keys.sort(key=lambda k: k.name)  # also the tie-break of the sorts below (stable)
    if sort == "next_fire_at":
        keys.sort(key=lambda k: (k.next_fire_at is None, k.next_fire_at or k.updated_at))
    elif sort == "updated_at":
        keys.sort(key=lambda k: k.updated_at or _EPOCH, reverse=True)


@dataclass(frozen=True)
class TaskPage:
    """A page of the definitions a ``TaskFilter`` selects, in its order: how many it selects
    (``total``), whether more follow the page (``more``), and the status of each listed task's
    latest run where asked for (tasks without runs absent)."""

    tasks: list[Task]
    total: int
    more: bool
    last: dict[str, RunStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStats:
    """Runs of one task that started in a time range."""

    task_name: str
    runs: int
    succeeded: int
    failed: int  # failed, timeout and cancelled
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    max_duration_seconds: float | None


@dataclass(frozen=True)
class QueueStats:
    """The queue at one instant (for health and the processor API)."""

    by_state: dict[JobState, int]
    due_now: int  # pending with scheduled_at <= now
    oldest_due_at: datetime | None  # the earliest scheduled_at of those
    expired_leases: int  # running whose lease_expires_at <= now (a worker likely died)


@dataclass(frozen=True)
class ControlState:
    """Cluster-wide run-time control that every worker follows (``PUT /api/cron/config``,
    ``POST /api/cron/stop``); None fields mean "the process's own setting"."""

    paused: bool = False
    batch_size: int | None = None
    max_concurrent_jobs: int | None = None
    default_timeout_seconds: float | None = None  # for tasks without their own timeout
    updated_at: datetime | None = None
    updated_by: str | None = None
