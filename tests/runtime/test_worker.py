"""The worker on a real store with real executors: runs, retries, timeouts, limits, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from tests.runtime.overlap import max_overlap
from tickwork.domain.jobs import Completion, ErrorClass, JobState, NewJob, RunStatus, TriggeredBy
from tickwork.domain.limits import Policies
from tickwork.domain.queries import RunQuery
from tickwork.domain.tasks import (
    PythonTarget,
    RetryPolicy,
    ShellTarget,
    TaskDefinition,
    TaskSource,
)
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.http import HttpExecutor
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.worker import SHUTDOWN_REASON, Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

MOD = "tests.runtime.jobs_for_tests"


def task(name: str, fn: str, **kw: object) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=PythonTarget(f"{MOD}:{fn}"), source=TaskSource.CODE, **kw
    )  # type: ignore[arg-type]


DEFS = [
    task("add", "add"),
    task("echo", "async_echo"),
    task(
        "fail", "fail", retry=RetryPolicy(max_retries=2, base_seconds=0.2, factor=2, jitter=False)
    ),
    task("sleepy", "sleepy", timeout_seconds=0.3),
    task("slow", "sleepy"),
    task("flaky", "flaky", retry=RetryPolicy(max_retries=3, base_seconds=0.01, jitter=False)),
    task(
        "picky",
        "raise_named",
        retry=RetryPolicy(
            max_retries=2, base_seconds=0.01, jitter=False, no_retry_on=("ValueError",)
        ),
    ),
    task(
        "only-transient",
        "raise_named",
        retry=RetryPolicy(
            max_retries=2,
            base_seconds=0.01,
            jitter=False,
            retry_on=(f"{MOD}.TransientError",),
        ),
    ),
    TaskDefinition(
        name="exits",
        target=ShellTarget("exit 1"),
        source=TaskSource.CODE,
        retry=RetryPolicy(max_retries=3, base_seconds=0.01, jitter=False),
    ),
    task(
        "isolated-picky",
        "raise_named",
        retry=RetryPolicy(
            max_retries=1,
            base_seconds=0.01,
            jitter=False,
            no_retry_on=(f"{MOD}.TransientError", "KeyError"),
        ),
        policies=Policies(isolated=True),
    ),
]


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store))
    await svc.sync_definitions(DEFS, [TaskSource.CODE])
    return svc


@pytest.fixture
async def worker(store: SqlStore) -> AsyncIterator[Worker]:
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), HttpExecutor(), output_limit=65536),
        WorkerSettings(
            worker_id="w1",
            batch_size=10,
            max_concurrent_jobs=3,
            poll_interval_seconds=0.05,
            shutdown_timeout_seconds=0.2,
        ),
    )
    await w.start()
    yield w
    await w.stop()
    await w.dispatcher.aclose()


async def wait_state(service: Service, job_id: int, *states: JobState, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while (await service.get_job(job_id)).state not in states:
            await asyncio.sleep(0.02)


async def test_sync_and_async_tasks_succeed_with_results(
    service: Service,
    worker: Worker,
) -> None:
    a = await service.enqueue(EnqueueRequest("add", args=(2, 3)))
    b = await service.enqueue(EnqueueRequest("echo", kwargs={"value": {"k": [1]}}))
    await wait_state(service, a, JobState.SUCCEEDED)
    await wait_state(service, b, JobState.SUCCEEDED)
    (run_a,) = await service.runs_of_job(a)
    (run_b,) = await service.runs_of_job(b)
    assert run_a.result == 5 and run_b.result == {"k": [1]}
    assert run_a.attempt == 1 and run_a.triggered_by.value == "api"
    assert run_a.worker_id == "w1" and run_a.finished_at >= run_a.started_at


async def test_retries_are_spaced_by_backoff(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("fail"))
    await wait_state(service, job, JobState.FAILED)
    runs = sorted(await service.runs_of_job(job), key=lambda r: r.attempt)
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert [r.triggered_by.value for r in runs] == ["api", "retry", "retry"]
    assert all(r.status is RunStatus.FAILED and r.error_type == "ConnectionError" for r in runs)
    gaps = [(runs[i + 1].started_at - runs[i].finished_at).total_seconds() for i in range(2)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # base 0.2 s, factor 2, no jitter


async def test_timeout_is_recorded(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("sleepy", args=(5,)))
    await wait_state(service, job, JobState.TIMEOUT)
    (run,) = await service.runs_of_job(job)
    assert run.status is RunStatus.TIMEOUT and run.duration_seconds < 2


async def test_job_of_unknown_task_fails_with_config_error(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    now = service.clock.now()
    (job,) = await store.enqueue([NewJob("never-defined", now, TriggeredBy.API)], now)
    worker.wake()
    await wait_state(service, job, JobState.FAILED)
    (run,) = await service.runs_of_job(job)
    assert run.error_class is ErrorClass.CONFIG and "never-defined" in str(run.error_message)


async def test_global_concurrency_limit_holds(
    service: Service, worker: Worker, store: SqlStore
) -> None:
    ids = await service.enqueue_many([EnqueueRequest("slow", args=(0.05,)) for _ in range(15)])
    for job in ids:
        await wait_state(service, job, JobState.SUCCEEDED)
    runs = await store.query_runs(RunQuery(task_name="slow", limit=100, sort="id"))
    assert len(runs) == 15
    assert max_overlap(runs) == 3  # max_concurrent_jobs, and it was reached


async def test_stop_releases_running_jobs(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("slow", args=(30,)))
    await wait_state(service, job, JobState.RUNNING)
    await worker.stop()
    await worker.stop()  # safe twice
    released = await service.get_job(job)
    assert released.state is JobState.AVAILABLE and (released.attempt, released.max_attempts) == (
        1,
        2,
    )
    (run,) = await service.runs_of_job(job)
    assert run.status is RunStatus.INTERRUPTED and run.error_message == SHUTDOWN_REASON


async def test_an_ordinary_exception_is_retried_with_the_backoff(
    service: Service, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.worker")
    key = f"ordinary-{id(service)}"
    job = await service.enqueue(EnqueueRequest("flaky", args=(2, key)))
    await wait_state(service, job, JobState.SUCCEEDED)
    runs = sorted(await service.runs_of_job(job), key=lambda r: r.attempt)
    assert [(r.attempt, r.status, r.error_type) for r in runs] == [
        (1, RunStatus.FAILED, "RuntimeError"),
        (2, RunStatus.FAILED, "RuntimeError"),
        (3, RunStatus.SUCCEEDED, None),
    ]
    assert runs[0].error_class is ErrorClass.UNKNOWN
    # One WARNING line per failed run, with its IDs, attempt, class and what happens next.
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.job_id, r.run_id, r.attempt) for r in lines] == [  # type: ignore[attr-defined]
        (job, runs[0].id, 1),
        (job, runs[1].id, 2),
    ]
    first = lines[0].getMessage()
    assert first.startswith(f"task flaky: job {job} run {runs[0].id} attempt 1/4 failed:")
    assert "RuntimeError [unknown] transient thing 1; retrying in" in first


@pytest.mark.parametrize(
    ("name", "kind", "attempts", "state"),
    [
        ("picky", "value", 1, JobState.FAILED),  # no_retry_on names it
        ("picky", "key", 3, JobState.FAILED),  # anything else retries
        ("only-transient", "transient", 3, JobState.FAILED),  # retry_on names its class
        ("only-transient", "value", 1, JobState.FAILED),  # retry_on does not name it
        ("isolated-picky", "transient", 1, JobState.FAILED),  # names cross the child process
        ("isolated-picky", "value", 2, JobState.FAILED),
    ],
)
async def test_retry_on_and_no_retry_on_pick_the_failures_that_retry(
    service: Service, worker: Worker, name: str, kind: str, attempts: int, state: JobState
) -> None:
    job = await service.enqueue(EnqueueRequest(name, args=(kind,)))
    await wait_state(service, job, state)
    assert len(await service.runs_of_job(job)) == attempts


async def test_a_non_zero_exit_is_retried(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("exits"))
    await wait_state(service, job, JobState.FAILED)
    runs = await service.runs_of_job(job)
    assert sorted((r.attempt, r.error_type, r.exit_code) for r in runs) == [
        (n, "ExitCode", 1) for n in (1, 2, 3, 4)
    ]


async def test_a_failure_on_the_last_attempt_says_so_in_the_log(
    service: Service, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tickwork.worker")

    async def logged(wanted: Callable[[str], bool]) -> list[str]:
        # The line follows the result's write (it names the run ID the write returned): a
        # reader can see the job's state a moment before it.
        for _ in range(200):
            found = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            if any(wanted(line) for line in found):
                return found
            await asyncio.sleep(0.05)
        return found

    job = await service.enqueue(EnqueueRequest("picky", args=("value",)))
    await wait_state(service, job, JobState.FAILED)
    [line] = await logged(lambda line: f"job {job}" in line)
    assert "attempt 1/3 failed: ValueError [unknown] bad value; not retried" in line
    timed_out = await service.enqueue(EnqueueRequest("sleepy", args=(5,)))
    await wait_state(service, timed_out, JobState.TIMEOUT)
    lines = await logged(lambda line: f"job {timed_out}" in line)
    assert any(
        f"job {timed_out}" in line
        and "timed out" in line
        and "no retries (max_retries = 0)" in line
        for line in lines
    )


class HeldCompletes:
    """The real store, with ``complete`` held at a gate: a write in flight, for as long as a
    test wants (everything else goes straight to the store)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.writing = asyncio.Event()
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def complete(self, completions: list[Completion]) -> list[int]:
        self.writing.set()
        await self.gate.wait()
        return await self._store.complete(completions)


async def test_stop_waits_for_results_being_written(store: SqlStore, service: Service) -> None:
    held = HeldCompletes(store)
    w = Worker(
        held,  # type: ignore[arg-type]
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(worker_id="w9", poll_interval_seconds=0.05, shutdown_timeout_seconds=5),
    )
    await w.start()
    job = await service.enqueue(EnqueueRequest("add", args=(1, 2)))
    w.wake()
    async with asyncio.timeout(10):
        await held.writing.wait()  # the job ended; the writer has its result in hand
    stopping = asyncio.create_task(w.stop())
    await asyncio.sleep(0.05)  # let the stop get as far as it can without the write
    assert not stopping.done()
    held.gate.set()
    async with asyncio.timeout(10):
        await stopping
    await w.dispatcher.aclose()
    assert (await service.get_job(job)).state is JobState.SUCCEEDED
    [run] = await service.runs_of_job(job)
    assert run.status is RunStatus.SUCCEEDED and run.result == 3


async def test_a_stop_ends_while_the_store_refuses_results(
    store: SqlStore, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    # The runs table gone (as in an outage, or a schema from another version): results cannot
    # be written. A stop gives up after its grace and the job stays running in the store, for
    # the reaper to return to the queue when its lease expires: ended, and nothing lost.
    caplog.set_level(logging.WARNING, logger="tickwork.worker")
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(
            worker_id="w-refused",
            poll_interval_seconds=0.05,
            shutdown_timeout_seconds=5,
            stop_write_grace_seconds=0.5,
        ),
    )
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tickwork_runs RENAME TO tickwork_runs_away")
    await w.start()
    job = await service.enqueue(EnqueueRequest("add", args=(1, 2)))
    w.wake()

    def refused() -> bool:
        return any("store unreachable" in r.getMessage() for r in caplog.records)

    async with asyncio.timeout(20):
        while not refused():
            await asyncio.sleep(0.02)
        await w.stop()  # hung for as long as the store refused, before
    await w.dispatcher.aclose()
    assert any("stopping without writing" in r.getMessage() for r in caplog.records)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tickwork_runs_away RENAME TO tickwork_runs")
    assert (await service.get_job(job)).state is JobState.RUNNING


async def test_every_claimed_job_is_recorded_whenever_the_worker_stops(
    store: SqlStore, service: Service
) -> None:
    # Stop at many moments while jobs start, end and get written: afterwards no job is left
    # running, and every job a worker claimed has a run record per claim.
    all_ids: list[int] = []
    for round_ in range(20):
        w = Worker(
            store,
            Dispatcher(PythonExecutor(), output_limit=65536),
            WorkerSettings(
                worker_id=f"stopper-{round_}",
                max_concurrent_jobs=8,
                poll_interval_seconds=0.01,
                shutdown_timeout_seconds=0.05 * (round_ % 3),
            ),
        )
        all_ids += await service.enqueue_many(
            [EnqueueRequest("slow", args=(0.002 * (i % 7),)) for i in range(12)]
        )
        await w.start()
        w.wake()
        await asyncio.sleep(0.003 * round_)
        await w.stop()
        await w.dispatcher.aclose()
        for job_id in all_ids:
            job = await service.get_job(job_id)
            assert job.state is not JobState.RUNNING, (round_, job)
            runs = await service.runs_of_job(job_id)
            assert len(runs) == job.attempt, (round_, job, runs)
