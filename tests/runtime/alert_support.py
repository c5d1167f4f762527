"""An alert engine on a real store for tests: runs recorded at a fake clock's times, the
evaluator stepping the rules, and a real worker delivering the notices (jobs of
``tickwork.notify``) through the senders to receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from tickwork.callables import resolve_callable
from tickwork.clock import FakeClock, SystemClock
from tickwork.config.alerts import AlertSettings
from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import PythonTarget, RetryPolicy, TaskDefinition, TaskSource
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.evaluator import Evaluator
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.notify import Notifier
from tickwork.runtime.notify.delivery import NOTIFY_TASK, Deliverer, notify_definition
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.store import SqlStore

PENDING = [JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYING, JobState.RUNNING]
WAIT_SECONDS = 20.0


async def etl_job(fail: bool = False) -> str:
    """The watched task: fails when told to."""
    if fail:
        raise RuntimeError("the warehouse refused the load")
    return "loaded"


def python_task(name: str, schedule: str | None = None) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=PythonTarget("tests.runtime.alert_support:etl_job"),
        schedule=schedule,
        retry=RetryPolicy(max_retries=0),
    )


@dataclass
class Engine:
    """A store, a fake clock, an evaluator and a delivering worker."""

    store: SqlStore
    clock: FakeClock
    settings: AlertSettings
    ssl_context: ssl.SSLContext | None = None
    evaluator: Evaluator = field(init=False)
    deliverer: Deliverer = field(init=False)
    worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.evaluator = Evaluator(self.store, self.settings, clock=self.clock)
        # Signatures carry the real time: the receiver checks them against its own clock.
        notifier = Notifier(
            base_url=self.settings.base_url,
            clock=SystemClock(),
            ssl_context=self.ssl_context,
            timeout_seconds=5,
        )
        self.deliverer = Deliverer(self.store, self.settings, clock=self.clock, notifier=notifier)
        executor = PythonExecutor(self.deliverer.resolver(resolve_callable))
        self.worker = Worker(
            self.store,
            Dispatcher(executor, output_limit=10_000),
            WorkerSettings(worker_id="alerts-test", poll_interval_seconds=0.02),
            clock=self.clock,
            rand=lambda: 0.5,  # a retry waits half its backoff: never due at once
        )

    async def __aenter__(self) -> Engine:
        now = self.clock.now()
        await self.store.sync_tasks([notify_definition()], [TaskSource.BUILTIN], {}, now)
        await self.worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.worker.stop()
        await self.worker.dispatcher.aclose()
        await self.deliverer.aclose()

    async def run(self, task: str, status: str, minutes: float = 0.0) -> None:
        """A run of ``task`` (``etl_job``) that ``status`` ("failed" or "succeeded"), done
        ``minutes`` from the clock's now (which moves there)."""
        now = self.clock.advance(minutes * 60)
        kwargs = {"fail": status == "failed"}
        [job_id] = await self.store.enqueue(
            [NewJob(task, now, TriggeredBy.API, kwargs=kwargs)], now
        )
        self.worker.wake()
        await self._until(lambda: self._finished(job_id))

    async def _finished(self, job_id: int) -> bool:
        job = await self.store.get_job(job_id)
        return job is not None and job.state in (JobState.SUCCEEDED, JobState.FAILED)

    async def _until(self, done: Callable[[], Awaitable[bool]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while not await done():
            assert loop.time() < deadline, "timed out waiting"
            await asyncio.sleep(0.02)

    async def evaluate_and_deliver(self) -> None:
        await self.evaluator.evaluate()
        await self.delivered()

    async def delivered(self, at: datetime | None = None) -> None:
        """Wait until no delivery job is due by ``at`` (default: now) or running."""
        self.worker.wake()

        async def done() -> bool:
            jobs = await self.store.query_jobs(
                JobQuery(task_name=NOTIFY_TASK, states=PENDING, limit=1000)
            )
            horizon = at or self.clock.now()
            return not [j for j in jobs if j.state is JobState.RUNNING or j.scheduled_at <= horizon]

        await self._until(done)
