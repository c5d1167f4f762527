"""What a run used and who asked for it, from the executor through the worker into the store
and back (both backends): a shell command's process tree, a sync task's thread, the requester
of a job copied to each run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from tickwork.domain.access import Principal, Scope, processor_principal
from tickwork.domain.jobs import JobState, ResourceScope, RunStatus
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.worker import SHUTDOWN_REASON, Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

MOD = "tests.runtime.jobs_for_tests"
ALLOCATE = f'{sys.executable} -c "x = bytearray(200*1024*1024); import time; time.sleep(0.3)"'
DEFS = [
    TaskDefinition("hog", ShellTarget(ALLOCATE), source=TaskSource.CODE),
    TaskDefinition("spin", PythonTarget(f"{MOD}:spin"), source=TaskSource.CODE),
    TaskDefinition("slow", PythonTarget(f"{MOD}:sleepy"), source=TaskSource.CODE),
]
ALICE = Principal(name="alice", scopes=frozenset(Scope), token_id=7)


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store, actor=processor_principal("p1")))
    await svc.sync_definitions(DEFS, [TaskSource.CODE])
    return svc


@pytest.fixture
async def worker(store: SqlStore) -> AsyncIterator[Worker]:
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(worker_id="w1", poll_interval_seconds=0.05, shutdown_timeout_seconds=0.1),
    )
    await w.start()
    yield w
    await w.stop()
    await w.dispatcher.aclose()


async def wait_state(service: Service, job_id: int, *states: JobState) -> None:
    async with asyncio.timeout(30):
        while (await service.get_job(job_id)).state not in states:
            await asyncio.sleep(0.02)


async def test_a_shell_run_records_its_process_tree(service: Service, worker: Worker) -> None:
    job = await service.enqueue(EnqueueRequest("hog"))
    await wait_state(service, job, JobState.SUCCEEDED)
    (run,) = await service.runs_of_job(job)
    assert run.resource_scope is ResourceScope.PROCESS
    assert run.peak_memory_mb is not None and 195 <= run.peak_memory_mb < 600
    assert run.cpu_seconds is not None and run.cpu_seconds > 0
    assert run.cpu_percent is not None and run.cpu_percent > 0
    assert run.requested_by is None  # queued by a program


async def test_a_sync_run_records_its_thread(service: Service, worker: Worker) -> None:
    job = await service.as_actor(ALICE).enqueue(EnqueueRequest("spin", args=(0.1,)))
    await wait_state(service, job, JobState.SUCCEEDED)
    (run,) = await service.runs_of_job(job)
    assert run.resource_scope is ResourceScope.THREAD
    assert run.cpu_seconds is not None and run.cpu_seconds >= 0.1
    assert run.peak_memory_mb is None
    assert run.requested_by == "alice"
    assert (await service.get_job(job)).requested_by == "alice"


async def test_a_trigger_names_who_asked(service: Service, worker: Worker) -> None:
    job = await service.as_actor(ALICE).trigger("spin")
    assert (await service.get_job(job)).requested_by == "alice"
    programs = await service.enqueue(EnqueueRequest("spin", args=(0.0,)))
    assert (await service.get_job(programs)).requested_by is None


async def test_an_interrupted_run_keeps_the_requester(service: Service, worker: Worker) -> None:
    job = await service.as_actor(ALICE).enqueue(EnqueueRequest("slow", args=(30,)))
    await wait_state(service, job, JobState.RUNNING)
    await worker.stop()
    (run,) = await service.runs_of_job(job)
    assert run.status is RunStatus.INTERRUPTED and run.error_message == SHUTDOWN_REASON
    assert run.requested_by == "alice" and run.resource_scope is None
