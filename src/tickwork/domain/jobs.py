"""Jobs and runs: the job state machine, what a run records, and what an executor reports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tickwork.errors import InvalidStateError


class JobState(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time
    AVAILABLE = "available"  # due, waiting for a worker
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; waiting for the next one
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # a policy decided not to run it (overlap=skip, a guard); says why


PENDING_STATES = frozenset({JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYING})
TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.SKIPPED}
)

# Every legal move; the store applies only these, so a job can never leave a terminal state.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.SCHEDULED: frozenset({JobState.AVAILABLE, JobState.RUNNING, JobState.CANCELLED}),
    JobState.SKIPPED: frozenset(),
    JobState.AVAILABLE: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RETRYING: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset(
        {
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.TIMEOUT,
            JobState.CANCELLED,
            JobState.RETRYING,
            JobState.AVAILABLE,  # released on shutdown or after its worker died
            JobState.SCHEDULED,  # deferred by a guard
            JobState.SKIPPED,  # skipped by a guard
        }
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMEOUT: frozenset(),
}


def check_transition(current: JobState, target: JobState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidStateError(f"a {current.value} job cannot become {target.value}")


class TriggeredBy(StrEnum):
    SCHEDULER = "scheduler"
    MANUAL = "manual"  # a person, from the CLI or dashboard
    API = "api"  # a program: the Python API or the REST API
    WEBHOOK = "webhook"
    RETRY = "retry"
    BACKFILL = "backfill"  # a past fire of the schedule, run by a backfill
    DEPENDENCY = "dependency"  # released by an upstream job's end (``after``)


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    # Its worker stopped or died mid-run; the job went back to the queue.
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"  # a guard decided not to run it
    DEFERRED = "deferred"  # a guard postponed it; the attempt was given back


class ResourceScope(StrEnum):
    """Whose figures a run's resource use are (see ``ResourceUse``)."""

    PROCESS = "process"  # the job's own process tree: shell commands, isolated Python
    THREAD = "thread"  # the worker thread that ran a sync Python task
    WORKER = "worker"  # an async task's share of the worker process (not the task's own)


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """What one attempt used, as far as its executor can tell; ``scope`` says whose figures
    they are. ``cpu_seconds`` is user + system time; ``cpu_percent`` is that over the wall
    time the executor measured (100 = one core busy throughout; a tree may exceed 100).
    ``peak_memory_mb`` is None where no honest figure exists (in-process tasks share the
    worker's memory)."""

    scope: ResourceScope
    cpu_seconds: float | None = None
    cpu_percent: float | None = None
    peak_memory_mb: float | None = None

    @classmethod
    def measured(
        cls,
        scope: ResourceScope,
        cpu_seconds: float,
        wall_seconds: float,
        peak_memory_mb: float | None = None,
    ) -> ResourceUse:
        percent = cpu_seconds / wall_seconds * 100 if wall_seconds > 0 else None
        return cls(scope, cpu_seconds, percent, peak_memory_mb)


class ErrorClass(StrEnum):
    """Why a run failed, in the terms that decide whether to retry."""

    TIMEOUT = "timeout"
    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    AUTH = "auth"
    VALIDATION = "validation"
    CONFIG = "config"
    UNKNOWN = "unknown"


# Failures that are wrong by nature: bad credentials, bad input (``tickwork.Fail``, HTTP 4xx
# other than 408/429), a broken definition. Trying again gives the same answer, so these end at
# once. Every other failure (timeouts, network, rate limits, 5xx, and ordinary exceptions or
# non-zero exits, class ``unknown``) is retried while the task's ``max_retries`` allow; a task
# narrows that with ``retry_on`` / ``no_retry_on`` (``domain.policies.is_retryable``).
NON_RETRYABLE = frozenset({ErrorClass.AUTH, ErrorClass.VALIDATION, ErrorClass.CONFIG})
RETRYABLE = frozenset(ErrorClass) - NON_RETRYABLE


@dataclass(frozen=True)
class NewJob:
    """A job to create (from a fire, a trigger or an enqueue)."""

    task_name: str
    scheduled_at: datetime
    triggered_by: TriggeredBy
    max_attempts: int = 1
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    key: str | None = None
    unique_key: str | None = None
    fire_at: datetime | None = None  # the schedule fire this job is for; unique per task
    skip_reason: str | None = None  # set: the job is recorded as skipped, never run
    watch_job_id: int | None = None  # a deadline job: cancelled if this job succeeds first
    # With ``unique_key``: also reuse a job of that key that finished this recently.
    unique_for_seconds: float | None = None
    # A watchdog to create with this job (only if this job is created): due at the deadline,
    # cancelled when this job succeeds first. See ``watchdog``.
    deadline_job: NewJob | None = None
    # The person or token that asked for it (``access.requester_of``); None for schedule
    # fires and programs.
    requested_by: str | None = None
    backfill_id: int | None = None  # the backfill that creates it (``domain.backfills``)

    def watchdog(self, job_id: int) -> NewJob | None:
        """The deadline job to create once this job got ``job_id``: it watches that job and is
        told which one (``kwargs`` ``job_id`` and ``task``)."""
        if self.deadline_job is None:
            return None
        return replace(
            self.deadline_job,
            watch_job_id=job_id,
            kwargs={**self.deadline_job.kwargs, "job_id": job_id, "task": self.task_name},
            deadline_job=None,
        )


@dataclass(frozen=True)
class Job:
    id: int
    task_name: str
    state: JobState
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    key: str | None
    unique_key: str | None
    scheduled_at: datetime
    attempt: int
    max_attempts: int
    triggered_by: TriggeredBy
    fire_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    requested_by: str | None = None
    backfill_id: int | None = None  # the backfill that created it
    # The upstream run whose end released this job (``after``), else None.
    released_by_run_id: int | None = None

    @property
    def run_triggered_by(self) -> TriggeredBy:
        """What started the current attempt: the job's trigger first, then retries."""
        return self.triggered_by if self.attempt <= 1 else TriggeredBy.RETRY


@dataclass(frozen=True)
class Outcome:
    """What an executor reports about one attempt.

    Whether a failure is retried (``domain.policies.is_retryable``) follows ``error_class``
    (all but ``NON_RETRYABLE``) and the task's ``retry_on`` / ``no_retry_on``, with two
    overrides:

    - ``force_retry``: the task raised ``tickwork.Retry`` (``error_type`` ``"Retry"``, class
      ``UNKNOWN``); it is retried while attempts remain, whatever its class or the task says.
    - ``retry_after_seconds``: ``Retry(after=...)`` or an HTTP ``Retry-After`` header (429,
      503); the next attempt waits this long (capped) instead of the backoff delay.

    ``tickwork.Fail`` is reported as ``error_type`` ``"Fail"`` with class ``VALIDATION``: never
    retried. ``error_types`` names the raised exception's class and its bases (plain and
    module-qualified), so that a task's ``retry_on`` / ``no_retry_on`` can name a base class;
    it is used for that decision only and not stored. ``metrics`` holds what the task passed
    to ``tickwork.report`` (``processed``, ``failed`` and its own names), on success and on
    failure or timeout alike. ``resources``: what the attempt used, where measured.
    """

    status: RunStatus
    error_type: str | None = None
    error_class: ErrorClass | None = None
    error_message: str | None = None
    traceback: str | None = None
    exit_code: int | None = None
    output: str | None = None
    result: Any = None
    metrics: dict[str, Any] | None = None  # partial results the task reported (B11)
    retry_after_seconds: float | None = None  # the task or the server asked to wait this long
    force_retry: bool = False  # the task raised tickwork.Retry: retried whatever its class
    error_types: tuple[str, ...] = ()
    resources: ResourceUse | None = None

    @classmethod
    def success(
        cls,
        result: Any = None,
        *,
        output: str | None = None,
        exit_code: int | None = None,
        metrics: dict[str, Any] | None = None,
        resources: ResourceUse | None = None,
    ) -> Outcome:
        return cls(
            RunStatus.SUCCEEDED,
            result=result,
            output=output,
            exit_code=exit_code,
            metrics=metrics,
            resources=resources,
        )

    @classmethod
    def failure(
        cls,
        error_type: str,
        message: str,
        *,
        error_class: ErrorClass = ErrorClass.UNKNOWN,
        traceback: str | None = None,
        exit_code: int | None = None,
        output: str | None = None,
        metrics: dict[str, Any] | None = None,
        retry_after_seconds: float | None = None,
        force_retry: bool = False,
        error_types: tuple[str, ...] = (),
        resources: ResourceUse | None = None,
    ) -> Outcome:
        return cls(
            RunStatus.FAILED,
            error_type=error_type,
            error_class=error_class,
            error_message=message,
            traceback=traceback,
            exit_code=exit_code,
            output=output,
            metrics=metrics,
            retry_after_seconds=retry_after_seconds,
            force_retry=force_retry,
            error_types=error_types,
            resources=resources,
        )

    @classmethod
    def timed_out(
        cls,
        timeout_seconds: float,
        *,
        output: str | None = None,
        exit_code: int | None = None,
        metrics: dict[str, Any] | None = None,
        resources: ResourceUse | None = None,
    ) -> Outcome:
        return cls(
            RunStatus.TIMEOUT,
            error_type="Timeout",
            error_class=ErrorClass.TIMEOUT,
            error_message=f"run exceeded its timeout of {timeout_seconds:g}s",
            output=output,
            exit_code=exit_code,
            metrics=metrics,
            resources=resources,
        )


@dataclass(frozen=True)
class Run:
    """The record of one attempt of a job."""

    id: int
    job_id: int
    task_name: str
    attempt: int
    status: RunStatus
    triggered_by: TriggeredBy
    started_at: datetime
    finished_at: datetime
    worker_id: str | None
    error_type: str | None
    error_class: ErrorClass | None
    error_message: str | None
    traceback: str | None
    exit_code: int | None
    output: str | None
    result: Any
    metrics: dict[str, Any] | None = None
    # What the attempt used (``ResourceUse``, flattened as stored); None where not measured.
    peak_memory_mb: float | None = None
    cpu_seconds: float | None = None
    cpu_percent: float | None = None
    resource_scope: ResourceScope | None = None
    requested_by: str | None = None  # the job's requester, copied to each of its runs

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunMark:
    """What a chart shows of a run: which one, when it started, how long it took, its end."""

    id: int
    job_id: int
    task_name: str
    status: RunStatus
    started_at: datetime
    duration_seconds: float


@dataclass(frozen=True)
class Completion:
    """One finished attempt, ready to be written: the run record and the job's next state."""

    job_id: int
    task_name: str
    attempt: int
    triggered_by: TriggeredBy
    worker_id: str | None
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    next_state: JobState
    retry_at: datetime | None = None
    refund_attempt: bool = False  # a deferral: the attempt did not happen
    max_attempts: int = 1  # of the job, for what is said about the attempt (logs)
    requested_by: str | None = None  # the job's, copied into the run record
    # For the rollups: when the attempt was due (its wait is ``started_at - due_at``) and the
    # job's concurrency key.
    due_at: datetime | None = None
    key: str | None = None


def new_job_state(job: NewJob, now: datetime) -> JobState:
    """The state a job is created in."""
    if job.skip_reason is not None:
        return JobState.SKIPPED
    return JobState.AVAILABLE if job.scheduled_at <= now else JobState.SCHEDULED
