"""One tickwork process: the scheduler, the worker, the reaper and the heartbeat, started and
stopped together."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tickwork.callables import resolve_callable
from tickwork.clock import Clock, SystemClock
from tickwork.config.alerts import AlertSettings
from tickwork.domain.admission import ClaimRules
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.processors import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_CONCURRENT_JOBS,
    DEFAULT_MISFIRE_GRACE_SECONDS,
    DEFAULT_OUTPUT_LIMIT_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    ROLE_SCHEDULER,
    ROLE_WORKER,
    ROLES,
    new_processor_id,
    validate_processor_id,
)
from tickwork.domain.queries import ControlState
from tickwork.domain.retention import RetentionPolicy
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS
from tickwork.errors import ConfigError
from tickwork.runtime.autoscheduler import AutoScheduler
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.evaluator import DEFAULT_EVALUATE_SECONDS, Evaluator
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.heartbeat import Heartbeat
from tickwork.runtime.notify.delivery import Deliverer
from tickwork.runtime.pruner import Pruner
from tickwork.runtime.reaper import Reaper
from tickwork.runtime.releaser import Releaser
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.store.base import Closeable, RuntimeStore

log = logging.getLogger("tickwork")

HEALTHY = "healthy"
DEGRADED = "degraded"


@dataclass(frozen=True)
class ProcessorSettings:
    roles: frozenset[str] = frozenset({ROLE_SCHEDULER, ROLE_WORKER})
    processor_id: str = field(default_factory=new_processor_id)
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT_JOBS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    misfire_grace_seconds: float = DEFAULT_MISFIRE_GRACE_SECONDS
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES
    max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    rules: ClaimRules = field(default_factory=ClaimRules)
    # What the worker role's pruner removes; None: no pruner in this process.
    retention: RetentionPolicy | None = None
    # [alerts]: the scheduler role evaluates the rules, the worker role delivers the notices
    # (jobs of ``tickwork.notify``); None: neither.
    alerts: AlertSettings | None = None
    alerts_interval_seconds: float = DEFAULT_EVALUATE_SECONDS
    # [autoschedule] (with ``enabled``): the scheduler role runs its passes; None: no passes.
    autoschedule: AutoSettings | None = None

    def __post_init__(self) -> None:
        unknown = sorted(self.roles - ROLES)
        if unknown or not self.roles:
            raise ConfigError(f"roles are {sorted(ROLES)}, got {sorted(self.roles)}", field="roles")
        validate_processor_id(self.processor_id)

    @property
    def role(self) -> str:
        return "+".join(sorted(self.roles))


class Processor:
    """Composes the runtime components of one process around one store."""

    def __init__(
        self,
        store: RuntimeStore,
        settings: ProcessorSettings,
        *,
        resolve: Callable[[str], Callable[..., Any]] = resolve_callable,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.worker: Worker | None = None
        self.scheduler: Scheduler | None = None
        self.releaser: Releaser | None = None
        self.pruner: Pruner | None = None
        self.evaluator: Evaluator | None = None
        self.autoscheduler: AutoScheduler | None = None
        self.deliverer: Deliverer | None = None
        self._watch: Closeable | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        s = settings
        if ROLE_WORKER in s.roles and s.alerts is not None and s.alerts.channels:
            # The built-in delivery task resolves to this process's channels.
            self.deliverer = Deliverer(store, s.alerts, clock=self.clock)
            resolve = self.deliverer.resolver(resolve)
        if ROLE_WORKER in s.roles:
            dispatcher = Dispatcher(
                PythonExecutor(resolve, max_threads=s.max_concurrent_jobs),
                output_limit=s.output_limit_bytes,
            )
            self.worker = Worker(
                store,
                dispatcher,
                WorkerSettings(
                    worker_id=s.processor_id,
                    batch_size=s.batch_size,
                    max_concurrent_jobs=s.max_concurrent_jobs,
                    poll_interval_seconds=s.poll_interval_seconds,
                    lease_seconds=s.lease_seconds,
                    shutdown_timeout_seconds=s.shutdown_timeout_seconds,
                    max_interruptions=s.max_interruptions,
                    rules=s.rules,
                ),
                clock=self.clock,
            )
            if s.retention is not None:
                self.pruner = Pruner(store, s.retention, clock=self.clock)
        if ROLE_SCHEDULER in s.roles:
            self.scheduler = Scheduler(
                store,
                SchedulerSettings(
                    poll_interval_seconds=s.poll_interval_seconds,
                    misfire_grace_seconds=s.misfire_grace_seconds,
                    processor_id=s.processor_id,
                ),
                clock=self.clock,
                on_fired=self.notify_work,
            )
            # Jobs after their upstreams (``after``).
            self.releaser = Releaser(store, clock=self.clock, on_released=self.notify_work)
            if s.alerts is not None and s.alerts.rules:
                self.evaluator = Evaluator(
                    store,
                    s.alerts,
                    clock=self.clock,
                    interval_seconds=s.alerts_interval_seconds,
                    on_enqueued=self.notify_work,
                )
            if s.autoschedule is not None and s.autoschedule.enabled:
                self.autoscheduler = AutoScheduler(
                    store, s.autoschedule, clock=self.clock, on_changed=self._auto_changed
                )
        self.reaper = Reaper(
            store,
            max(s.lease_seconds / 2, 1.0),
            clock=self.clock,
            max_interruptions=s.max_interruptions,
        )
        self.heartbeat = Heartbeat(
            store,
            s.processor_id,
            s.role,
            interval_seconds=s.heartbeat_interval_seconds,
            clock=self.clock,
            on_control=self._apply_control,
        )

    def _apply_control(self, state: ControlState) -> None:
        # The worker follows it; the scheduler names overlap skips while paused "paused".
        if self.worker is not None:
            self.worker.apply_control(state)
        if self.scheduler is not None:
            self.scheduler.apply_control(state)

    def health(self) -> tuple[str, list[str]]:
        """``("healthy", [])``, or ``("degraded", reasons)`` while a loop cannot reach the store
        (it keeps retrying; see ``runtime.backoff.StoreRetry``). A worker paused by the
        cluster's control is healthy (it does what it was told) and says so in the reasons."""
        reasons = [
            f"{name}: store unreachable, {r.failures} failure(s) in a row ({r.last_error})"
            for name, r in self._retries()
            if r.degraded
        ]
        state = DEGRADED if reasons else HEALTHY
        if self.worker is not None and self.worker.paused:
            control = self.worker.control
            by = f" by {control.updated_by}" if control.updated_by else ""
            reasons.append(f"worker: paused{by}; claiming no jobs until resumed")
        return state, reasons

    def _retries(self) -> list[tuple[str, StoreRetry]]:
        loops = [("heartbeat", self.heartbeat.retry)]
        if self.scheduler is not None:
            loops.append(("scheduler", self.scheduler.retry))
        if self.releaser is not None:
            loops.append(("releaser", self.releaser.retry))
        if self.worker is not None:
            loops += [
                ("worker claims", self.worker.claim_retry),
                ("worker results", self.worker.write_retry),
                ("reaper", self.reaper.retry),
            ]
        if self.pruner is not None:
            loops.append(("pruner", self.pruner.retry))
        if self.evaluator is not None:
            loops.append(("alerts", self.evaluator.retry))
        if self.autoscheduler is not None:
            loops.append(("autoschedule", self.autoscheduler.retry))
        return loops

    def notify_work(self) -> None:
        """Jobs may be due: wake the worker (safe from any thread; on the loop's own thread,
        as the PostgreSQL watcher calls it, without a round trip through the loop)."""
        if self.worker is None or self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self.worker.wake()
        else:
            self._loop.call_soon_threadsafe(self.worker.wake)

    def notify_schedules(self) -> None:
        """Schedules changed: wake the scheduler (safe from any thread)."""
        if self.scheduler is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.scheduler.wake)

    def _auto_changed(self) -> None:
        """An auto-rescheduling pass changed schedules (or queued a trial run)."""
        self.notify_schedules()
        self.notify_work()

    def notify_checks(self) -> None:
        """A heartbeat check went down or came back: wake the alert evaluator (safe from any
        thread; the store's watcher calls it for other processes' ``notify_alerts``)."""
        if self.evaluator is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.evaluator.wake)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self.store.open()
        await self.heartbeat.start()
        if self.worker is not None or self.evaluator is not None:
            # On the loop: the PostgreSQL store then listens on it (watch.PgLoopWatcher). One
            # LISTEN wakes the worker for jobs and the evaluator for other processes' pings.
            on_work = None if self.worker is None else self.notify_work
            on_alerts = None if self.evaluator is None else self.notify_checks
            self._watch = self.store.watch(on_work, on_alerts)
        if self.worker is not None:
            await self.reaper.start()
            await self.worker.start()
            if self.pruner is not None:
                await self.pruner.start()
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.releaser is not None:
            await self.releaser.start()
        if self.evaluator is not None:
            await self.evaluator.start()
        if self.autoscheduler is not None:
            await self.autoscheduler.start()
        log.info("processor %s started (%s)", self.settings.processor_id, self.settings.role)

    async def stop(self) -> None:
        """Stop firing, drain the worker, record the stop. Safe to call twice."""
        if self.autoscheduler is not None:
            await self.autoscheduler.stop()
        if self.evaluator is not None:
            await self.evaluator.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.releaser is not None:
            await self.releaser.stop()
        if self.pruner is not None:
            await self.pruner.stop()
        if self.worker is not None:
            await self.worker.stop()
            await self.worker.dispatcher.aclose()
        if self.deliverer is not None:
            await self.deliverer.aclose()
        await self.reaper.stop()
        if self._watch is not None:
            watch, self._watch = self._watch, None
            aclose = getattr(watch, "aclose", None)  # a watcher on the loop: await its end
            if aclose is not None:
                await aclose()
            else:
                await asyncio.to_thread(watch.close)  # joins its thread: not on the loop
        await self.heartbeat.stop()
        log.info("processor %s stopped", self.settings.processor_id)
