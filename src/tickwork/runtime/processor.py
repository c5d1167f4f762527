"""One tickwork process: the scheduler, the worker, the reaper and the heartbeat, started and
stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tickwork.domain.admission import ClaimRules
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.python import PythonExecutor, resolve_callable
from tickwork.runtime.heartbeat import DEFAULT_HEARTBEAT_SECONDS, Heartbeat, new_processor_id
from tickwork.runtime.reaper import Reaper
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.store.base import Closeable, Store

log = logging.getLogger("tickwork")

ROLE_SCHEDULER = "scheduler"
ROLE_WORKER = "worker"


@dataclass(frozen=True)
class ProcessorSettings:
    roles: frozenset[str] = frozenset({ROLE_SCHEDULER, ROLE_WORKER})
    processor_id: str = field(default_factory=new_processor_id)
    batch_size: int = 50
    max_concurrent_jobs: int = 20
    poll_interval_seconds: float = 1.0
    lease_seconds: float = 60.0
    shutdown_timeout_seconds: float = 30.0
    misfire_grace_seconds: float = 60.0
    output_limit_bytes: int = 65536
    heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    rules: ClaimRules = field(default_factory=ClaimRules)

    @property
    def role(self) -> str:
        return "+".join(sorted(self.roles))


class Processor:
    """Composes the runtime components of one process around one store."""

    def __init__(
        self,
        store: Store,
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
        self._watch: Closeable | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        s = settings
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
                    rules=s.rules,
                ),
                clock=self.clock,
            )
        if ROLE_SCHEDULER in s.roles:
            self.scheduler = Scheduler(
                store,
                SchedulerSettings(
                    poll_interval_seconds=s.poll_interval_seconds,
                    misfire_grace_seconds=s.misfire_grace_seconds,
                ),
                clock=self.clock,
                on_fired=self.notify_work,
            )
        self.reaper = Reaper(store, max(s.lease_seconds / 2, 1.0), clock=self.clock)
        self.heartbeat = Heartbeat(
            store,
            s.processor_id,
            s.role,
            interval_seconds=s.heartbeat_interval_seconds,
            clock=self.clock,
        )

    def notify_work(self) -> None:
        """Jobs may be due: wake the worker (safe from any thread)."""
        if self.worker is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.worker.wake)

    def notify_schedules(self) -> None:
        """Schedules changed: wake the scheduler (safe from any thread)."""
        if self.scheduler is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.scheduler.wake)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.store.open()
        await self.heartbeat.start()
        if self.worker is not None:
            self._watch = self.store.watch(self.notify_work)
            await self.reaper.start()
            await self.worker.start()
        if self.scheduler is not None:
            await self.scheduler.start()
        log.info("processor %s started (%s)", self.settings.processor_id, self.settings.role)

    async def stop(self) -> None:
        """Stop firing, drain the worker, record the stop. Safe to call twice."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.worker is not None:
            await self.worker.stop()
            await self.worker.dispatcher.aclose()
        await self.reaper.stop()
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        await self.heartbeat.stop()
        log.info("processor %s stopped", self.settings.processor_id)
