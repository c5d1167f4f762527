"""The worker: claims due jobs in batches within its limits, runs them, writes results."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tickwork.clock import Clock, SystemClock, monotonic
from tickwork.domain.admission import ClaimRules
from tickwork.domain.jobs import Completion, ErrorClass, Job, JobState, Outcome, RunStatus
from tickwork.domain.metrics import DurationRecorder
from tickwork.domain.policies import next_state_after
from tickwork.domain.processors import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_CONCURRENT_JOBS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
)
from tickwork.domain.queries import ControlState
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS, RetryPolicy, TaskDefinition
from tickwork.logs import log_context
from tickwork.runtime.activity import CURRENT_RUN, ActivityRecorder
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.guards import Decision, Defer, Skip, consult
from tickwork.runtime.taskcache import TaskCache
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.worker")

SHUTDOWN_REASON = "worker shut down before the run finished; job released to the queue"
CLAIM_LINGER_SECONDS = 0.001
# How often a worker with running jobs asks the store whether any should stop.
CANCEL_POLL_SECONDS = 0.5
CANCELLED_REASON = "cancelled on request while running"
DEFAULT_PREFETCH_SECONDS = 0.05
# How soon a worker looks again at due jobs that its last claim left behind (see _idle_wait).
HELD_RECHECK_SECONDS = 0.005
# How long an idle worker sleeps at most when it learns of no new work at all.
MAX_IDLE_SECONDS = 5.0


# How long a stop keeps trying to write its last results while the store refuses them.
STOP_WRITE_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerSettings:
    worker_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT_JOBS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    # Jobs due this soon are claimed now and started at their time (see Store.claim).
    prefetch_seconds: float = DEFAULT_PREFETCH_SECONDS
    max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    rules: ClaimRules = field(default_factory=ClaimRules)
    # How long a stop keeps trying to write its last results and release its jobs while the
    # store refuses them; then it gives up, and the jobs return when their leases expire.
    stop_write_grace_seconds: float = STOP_WRITE_GRACE_SECONDS


# Outcomes that get a WARNING line of their own (see log_failure).
_WARNED = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT})
MAX_LOGGED_MESSAGE_CHARS = 300


def log_failure(c: Completion, run_id: int, now: datetime) -> None:
    """One WARNING line for a run that failed or timed out: what ran, which attempt, why, and
    what happens next. The IDs also go to the record's attributes for structured logs."""
    o = c.outcome
    message = " ".join((o.error_message or "").split())  # one line, whatever the task raised
    if len(message) > MAX_LOGGED_MESSAGE_CHARS:
        message = message[:MAX_LOGGED_MESSAGE_CHARS] + "..."
    if c.next_state is JobState.RETRYING and c.retry_at is not None:
        wait = max((c.retry_at - now).total_seconds(), 0.0)
        then = f"retrying in {wait:.1f}s"
    elif c.attempt < c.max_attempts:
        then = "not retried (error class or the task's retry_on/no_retry_on)"
    else:
        then = "no attempts left" if c.max_attempts > 1 else "no retries (max_retries = 0)"
    log.warning(
        "task %s: job %s run %s attempt %d/%d %s: %s [%s] %s; %s",
        c.task_name,
        c.job_id,
        run_id,
        c.attempt,
        c.max_attempts,
        "timed out" if o.status is RunStatus.TIMEOUT else "failed",
        o.error_type or "Error",
        (o.error_class or ErrorClass.UNKNOWN).value,
        message,
        then,
        extra={
            "task": c.task_name,
            "job_id": c.job_id,
            "run_id": run_id,
            "attempt": c.attempt,
            "processor": c.worker_id,
            "error_class": (o.error_class or ErrorClass.UNKNOWN).value,
        },
    )


class Worker:
    """Runs jobs from the store.

    One loop claims (up to ``batch_size`` per statement, never more than free slots); each job
    runs as its own asyncio task; a writer loop writes finished attempts in batches (whatever
    accumulated while the previous batch was being written), so the database sees a few large
    transactions instead of one per job.
    """

    def __init__(
        self,
        store: RuntimeStore,
        dispatcher: Dispatcher,
        settings: WorkerSettings,
        *,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
        tasks: TaskCache | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.settings = settings
        self.clock = clock or SystemClock()
        self._rand = rand
        self._tasks = tasks or TaskCache(store)
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._cancelling: set[int] = set()
        self._completions: list[Completion] = []
        # Held while results are written: a stop waits for a write in flight instead of
        # cancelling it, which would lose the batch the writer had already taken.
        self._write_lock = asyncio.Lock()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = asyncio.Event()
        # Store failures of the claim loop, and of writing results; Processor.health reads them.
        self.claim_retry = StoreRetry(log)
        self.write_retry = StoreRetry(log)
        # How long each claim took (this process's ``tickwork_claim_duration_seconds``).
        self.claim_durations = DurationRecorder()
        # The cluster's run-time control (``apply_control``, from the heartbeat) over the
        # process's own settings; the claim path reads these attributes, never the store.
        self.control = ControlState()
        self.batch_size = settings.batch_size
        self.max_concurrent_jobs = settings.max_concurrent_jobs
        self.default_timeout_seconds: float | None = None
        # Progress and events of the running jobs (tickwork.progress/event), written apart.
        self.activity = ActivityRecorder(store, self.clock)

    @property
    def running_job_ids(self) -> list[int]:
        return list(self._running)

    def wake(self) -> None:
        """New work may be due (an in-process enqueue, a fire, or a store change)."""
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self.control.paused

    def apply_control(self, state: ControlState) -> None:
        """Follow the cluster's run-time control: a paused worker claims nothing (running jobs
        go on); batch size and concurrency overrides apply to the next claims (running jobs are
        never stopped for them); the default timeout to tasks without their own."""
        old, self.control = self.control, state
        s = self.settings
        self.batch_size = state.batch_size or s.batch_size
        self.max_concurrent_jobs = state.max_concurrent_jobs or s.max_concurrent_jobs
        self.default_timeout_seconds = state.default_timeout_seconds
        who = state.updated_by or "an operator"
        if state.paused and not old.paused:
            log.info("processing paused by %s: claiming nothing; running jobs go on", who)
        elif old.paused and not state.paused:
            log.info("processing resumed by %s", who)
        overrides = ("batch_size", "max_concurrent_jobs", "default_timeout_seconds")
        if any(getattr(old, f) != getattr(state, f) for f in overrides):
            log.info(
                "run-time settings from %s: batch size %d, concurrency %d, default timeout %s",
                who,
                self.batch_size,
                self.max_concurrent_jobs,
                "none" if self.default_timeout_seconds is None else self.default_timeout_seconds,
            )
        if state != old:
            self._wake.set()  # maybe resumed or given more room: look for work now

    async def start(self) -> None:
        if self._loops:
            return
        await self.activity.start()
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="tickwork-claim"),
            asyncio.create_task(self._write_loop(), name="tickwork-write"),
            asyncio.create_task(self._lease_loop(), name="tickwork-lease"),
            asyncio.create_task(self._cancel_loop(), name="tickwork-cancel"),
        ]

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish up to the shutdown timeout, release the rest.

        Safe to call twice. Nothing this worker claimed is left ``running`` afterwards.
        """
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        # Let the claim loop finish on its own: cancelling it mid-claim would leave the jobs of
        # that claim running in the store with no task to run them.
        claim_loop = next((t for t in self._loops if t.get_name() == "tickwork-claim"), None)
        if claim_loop is not None:
            await asyncio.gather(claim_loop, return_exceptions=True)
        if self._running:
            log.info(
                "waiting up to %ss for %d running job(s)",
                self.settings.shutdown_timeout_seconds,
                len(self._running),
            )
            await asyncio.wait(
                list(self._running.values()), timeout=self.settings.shutdown_timeout_seconds
            )
        leftover = list(self._running)
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
        for loop in self._loops:
            if loop.get_name() in ("tickwork-lease", "tickwork-cancel"):
                loop.cancel()
        try:
            # A stop must end even while the store refuses writes (an outage, a wrong schema):
            # what is not written by then stays ``running`` in the store, and the reaper returns
            # those jobs to the queue when their leases expire; nothing is lost.
            async with asyncio.timeout(self.settings.stop_write_grace_seconds):
                await self._drain_completions()  # a write in flight first, then the rest
                if leftover:
                    n = await self.write_retry.call(
                        lambda: self.store.release(
                            self.settings.worker_id,
                            leftover,
                            self.clock.now(),
                            SHUTDOWN_REASON,
                            max_interruptions=self.settings.max_interruptions,
                        )
                    )
                    log.info("released %d job(s) back to the queue", n)
        except TimeoutError:
            log.warning(
                "stopping without writing: the store refused writes for %ss; %d result(s) not"
                " recorded and %d job(s) not released stay running in the store until their"
                " leases expire, then go back to the queue",
                self.settings.stop_write_grace_seconds,
                len(self._completions),
                len(leftover),
            )
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.activity.stop()
        self._stopped.set()

    # --- claiming --------------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        # Threads of sync tasks that outlived their timeout still occupy a slot until they end.
        stuck = self.dispatcher.python.busy_after_timeout
        return self.max_concurrent_jobs - len(self._running) - stuck

    async def run_once(self) -> int:
        """Claim and start one batch of due jobs; returns how many were claimed."""
        free = self.free_slots
        if free <= 0 or self._stopping or self.control.paused:
            return 0
        limit = min(free, self.batch_size)
        now = self.clock.now()
        horizon = now + timedelta(seconds=self.settings.prefetch_seconds)
        started = monotonic()
        jobs = await self.store.claim(
            self.settings.worker_id,
            limit,
            now,
            self.settings.lease_seconds,
            horizon=horizon,
            rules=self.settings.rules,
        )
        self.claim_durations.observe(monotonic() - started)
        if jobs:
            try:
                await self._tasks.load({j.task_name for j in jobs})
            except Exception as exc:  # each job retries the lookup on its own
                log.warning("could not load task definitions: %s", exc)
        for job in jobs:
            self._running[job.id] = asyncio.create_task(self._execute(job))
        return len(jobs)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._slot_free.clear()
            if self.control.paused:  # until resumed (apply_control wakes us) or stopped
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), MAX_IDLE_SECONDS)
                continue
            free = self.free_slots
            try:
                claimed = await self.run_once()
            except Exception as exc:  # the store is down: keep the process alive, back off
                if self._stopping:
                    return
                await self.claim_retry.failed(exc)
                continue
            self.claim_retry.succeeded()
            if claimed and claimed == min(free, self.batch_size):
                continue  # a full batch: there may be more due right now
            if self.free_slots <= 0:
                if not self._running:  # only stuck threads hold the slots: look again later
                    await self._idle_wait()
                    continue
                await self._slot_free.wait()
                if len(self._running) > self.max_concurrent_jobs // 2:
                    # Let a few more slots free up: one claim of many jobs costs about what
                    # a claim of one does, and short jobs free slots by the hundred.
                    await asyncio.sleep(CLAIM_LINGER_SECONDS)
                continue
            await self._idle_wait()

    async def _idle_wait(self) -> None:
        timeout = self.settings.poll_interval_seconds
        try:
            due = await self.store.next_due_time()
        except Exception:
            due = None
        if due is not None:
            ahead = (due - self.clock.now()).total_seconds() - self.settings.prefetch_seconds
            # Due jobs left after a short claim are held by policies (or were taken by other
            # workers): look again soon, not at once. Claims that spin against held jobs keep
            # the store busy and slow down the very completions that would free them.
            timeout = min(timeout, max(ahead, HELD_RECHECK_SECONDS))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), min(timeout, MAX_IDLE_SECONDS))

    # --- running ---------------------------------------------------------------------------
    async def _execute(self, job: Job) -> None:
        # Every line logged for the job while it runs (by tickwork or the task's own code, in
        # this task or the thread that runs a sync task) names it; its run ID comes when the
        # result is written (log_failure).
        with log_context(task=job.task_name, job_id=job.id, attempt=job.attempt):
            await self._run(job)

    async def _run(self, job: Job) -> None:
        task = await self._tasks.get(job.task_name)
        retry = task.retry if task else RetryPolicy()
        early = (job.scheduled_at - self.clock.now()).total_seconds()
        if early > 0:  # claimed ahead of its time (prefetch): start on the dot
            await asyncio.sleep(early)
        started = self.clock.now()
        decision: Decision = None
        # This task's own context: what the run emits goes to its scope (tickwork.progress).
        scope = self.activity.scope(job.id, job.attempt, job.task_name)
        CURRENT_RUN.set(scope)
        try:
            if task is None:
                outcome = Outcome.failure(
                    "UnknownTask",
                    f"no task named {job.task_name!r} is defined",
                    error_class=ErrorClass.CONFIG,
                )
            else:
                if task.policies.guard:
                    decision = await consult(
                        self.dispatcher.python.resolve(task.policies.guard), job
                    )
                if isinstance(decision, Skip):
                    outcome = Outcome(
                        RunStatus.SKIPPED, error_type="Skipped", error_message=decision.reason
                    )
                elif isinstance(decision, Defer):
                    outcome = Outcome(
                        RunStatus.DEFERRED, error_type="Deferred", error_message=decision.reason
                    )
                else:
                    outcome = await self.dispatcher.run(self._with_default_timeout(task), job)
        except asyncio.CancelledError:
            if job.id not in self._cancelling:
                raise  # shutdown: the job is released, not completed
            task_ = asyncio.current_task()
            if task_ is not None:
                task_.uncancel()
            outcome = Outcome(
                RunStatus.CANCELLED, error_type="Cancelled", error_message=CANCELLED_REASON
            )
        except Exception as exc:  # an executor bug must not lose the job
            log.exception("executor failed for job %s", job.id)
            outcome = Outcome.failure(type(exc).__name__, str(exc))
        finished = self.clock.now()
        self.activity.finish(scope)
        if isinstance(decision, Skip):
            state, retry_at = JobState.SKIPPED, None
        elif isinstance(decision, Defer):
            state, retry_at = JobState.SCHEDULED, decision.when(finished)
        else:
            state, retry_at = next_state_after(
                outcome, job.attempt, job.max_attempts, retry, finished, self._rand()
            )
        self._completions.append(
            Completion(
                job_id=job.id,
                task_name=job.task_name,
                attempt=job.attempt,
                triggered_by=job.run_triggered_by,
                worker_id=self.settings.worker_id,
                started_at=started,
                finished_at=finished,
                outcome=outcome,
                next_state=state,
                retry_at=retry_at,
                refund_attempt=isinstance(decision, Defer),
                max_attempts=job.max_attempts,
                requested_by=job.requested_by,
                due_at=job.scheduled_at,
                key=job.key,
            )
        )
        self._flush.set()
        del self._running[job.id]
        self._cancelling.discard(job.id)
        self._slot_free.set()
        if state is JobState.RETRYING:
            self._wake.set()

    def _with_default_timeout(self, task: TaskDefinition) -> TaskDefinition:
        default = self.default_timeout_seconds
        if default is None or task.timeout_seconds is not None:
            return task
        return dataclasses.replace(task, timeout_seconds=default)

    # --- writing ---------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            await self._flush.wait()
            self._flush.clear()
            await self._drain_completions()

    async def _drain_completions(self) -> None:
        async with self._write_lock:
            while self._completions:
                batch, self._completions = self._completions, []
                try:
                    run_ids = await self.store.complete(batch)
                except BaseException as exc:
                    # Keep the results and try again: losing them would lose the outcome (and a
                    # stop that gives up must still know what it did not write).
                    self._completions[:0] = batch
                    if not isinstance(exc, Exception):
                        raise
                    await self.write_retry.failed(exc)
                    continue
                self.write_retry.succeeded()
                for completion, run_id in zip(batch, run_ids, strict=True):
                    if completion.outcome.status in _WARNED:
                        log_failure(completion, run_id, self.clock.now())
                # Written results free what limits counted (a key's running jobs, a queued
                # task) and may add retries: the claim loop looks again, once per batch.
                self._wake.set()

    # --- cancel requests ---------------------------------------------------------------------
    async def _cancel_loop(self) -> None:
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if not self._running:
                continue
            try:
                requested = await self.store.cancel_requests(self.settings.worker_id)
            except Exception as exc:
                log.warning("could not read cancel requests: %s", exc)
                continue
            for job_id in requested:
                task = self._running.get(job_id)
                if task is not None and job_id not in self._cancelling:
                    log.info("job %s: cancel requested; stopping it", job_id)
                    self._cancelling.add(job_id)
                    task.cancel()

    # --- leases ----------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            if not self._running:
                continue
            until = self.clock.now() + timedelta(seconds=self.settings.lease_seconds)
            try:
                await self.store.extend_leases(self.settings.worker_id, list(self._running), until)
            except Exception as exc:
                log.warning("could not extend leases: %s", exc)
