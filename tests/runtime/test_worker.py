"""The worker on a real store with real executors: runs, retries, timeouts, limits, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.runtime.overlap import max_overlap
from tickwork.domain.jobs import ErrorClass, JobState, NewJob, RunStatus, TriggeredBy
from tickwork.domain.tasks import PythonTarget, RetryPolicy, TaskDefinition, TaskSource
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.http import HttpExecutor
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.worker import SHUTDOWN_REASON, Worker, WorkerSettings
from tickwork.service import EnqueueRequest, Service
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
]


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(store)
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
    runs = await store.list_runs(task_name="slow", limit=100)
    assert len(runs) == 15
    assert max_overlap(runs) == 3  # max_concurrent_jobs, and it was reached


async def test_stop_releases_running_jobs(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("slow", args=(30,)))
    await wait_state(service, job, JobState.RUNNING)
    await worker.stop()
    await worker.stop()  # safe twice
    released = await service.get_job(job)
    assert released.state is JobState.AVAILABLE and released.attempt == 0
    (run,) = await service.runs_of_job(job)
    assert run.status is RunStatus.INTERRUPTED and run.error_message == SHUTDOWN_REASON
