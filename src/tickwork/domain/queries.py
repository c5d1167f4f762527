"""What the use cases ask of the store and what it reports back: pages of jobs and runs, run
statistics, the queue at one instant, the run-time control row, and processor rows.

Pure types, shared by the store (which answers them) and the use cases (which check and pass
them on); adapters take them from ``tickwork.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tickwork.domain.jobs import JobState, RunStatus, TriggeredBy


@dataclass(frozen=True)
class ProcessorInfo:
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
