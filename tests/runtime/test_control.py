"""Cluster-wide run-time control on a real store: the ``Control`` use case (validation, audit)
and workers following it — pause/resume through the heartbeat, batch size and concurrency
overrides, the default timeout."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest

from tests.runtime.jobs_for_tests import OPEN_GATES
from tickwork.domain.access import LOCAL, AuditQuery, Principal, Scope
from tickwork.domain.jobs import JobState, RunStatus
from tickwork.domain.processors import ROLE_WORKER
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.processor import HEALTHY, Processor, ProcessorSettings
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.control import Control
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.service.queries import ControlState
from tickwork.store import SqlStore

MOD = "tests.runtime.jobs_for_tests"
ALICE = Principal(name="alice", scopes=frozenset({Scope.PROCESSOR}))

DEFS = [
    TaskDefinition(name="add", target=PythonTarget(f"{MOD}:add"), source=TaskSource.CODE),
    TaskDefinition(name="slow", target=PythonTarget(f"{MOD}:sleepy"), source=TaskSource.CODE),
    TaskDefinition(name="gated", target=PythonTarget(f"{MOD}:gated"), source=TaskSource.CODE),
    TaskDefinition(
        name="own-timeout",
        target=PythonTarget(f"{MOD}:sleepy"),
        source=TaskSource.CODE,
        timeout_seconds=5.0,
    ),
]


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store))
    await svc.sync_definitions(DEFS, [TaskSource.CODE])
    return svc


@pytest.fixture
async def worker(store: SqlStore) -> AsyncIterator[Worker]:
    """A worker whose loops are not started: each test claims with ``run_once``."""
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(
            worker_id="w1", batch_size=10, max_concurrent_jobs=10, shutdown_timeout_seconds=5
        ),
    )
    yield w
    await w.stop()
    await w.dispatcher.aclose()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def states(service: Service, ids: list[int]) -> list[JobState]:
    return [(await service.get_job(i)).state for i in ids]


async def wait_states(service: Service, ids: list[int], state: JobState) -> None:
    async with asyncio.timeout(10):
        while any(s is not state for s in await states(service, ids)):
            await asyncio.sleep(0.02)


# --- the use case ------------------------------------------------------------------------------
async def test_pause_resume_are_recorded_and_audited(store: SqlStore) -> None:
    control = Control(Context(store))
    assert await control.get() == ControlState()
    paused = await control.pause(actor=ALICE)
    assert paused.paused and paused.updated_by == "alice" and paused.updated_at is not None
    assert (await control.pause(actor=ALICE)) == paused  # already paused: no second entry
    resumed = await control.resume(actor=LOCAL)
    assert not resumed.paused and resumed.updated_by == "local"
    entries = await store.query_audit(AuditQuery(target_type="processor"))
    assert [(e.action, e.actor, e.before, e.after) for e in entries] == [
        ("processor.resume", "local", {"paused": True}, {"paused": False}),
        ("processor.pause", "alice", {"paused": False}, {"paused": True}),
    ]


async def test_configure_sets_clears_and_audits(store: SqlStore) -> None:
    control = Control(Context(store))
    state = await control.configure(
        batch_size=5, max_concurrent_jobs=3, default_timeout_seconds=2.5, actor=ALICE
    )
    assert (state.batch_size, state.max_concurrent_jobs, state.default_timeout_seconds) == (
        5,
        3,
        2.5,
    )
    state = await control.configure(
        batch_size=5, clear=frozenset({"max_concurrent_jobs"}), actor=ALICE
    )
    assert state.batch_size == 5 and state.max_concurrent_jobs is None
    assert state.default_timeout_seconds == 2.5
    assert await control.get() == state
    entries = await store.query_audit(AuditQuery(action="config.update"))
    assert [(e.before, e.after) for e in entries] == [
        ({"max_concurrent_jobs": 3}, {"max_concurrent_jobs": None}),  # batch_size unchanged
        (
            {"batch_size": None, "max_concurrent_jobs": None, "default_timeout_seconds": None},
            {"batch_size": 5, "max_concurrent_jobs": 3, "default_timeout_seconds": 2.5},
        ),
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"max_concurrent_jobs": 0}, "max_concurrent_jobs"),
        ({"max_concurrent_jobs": 10001}, "max_concurrent_jobs"),
        ({"default_timeout_seconds": 0}, "default_timeout_seconds"),
        ({"default_timeout_seconds": float("nan")}, "default_timeout_seconds"),
        ({"default_timeout_seconds": float("inf")}, "default_timeout_seconds"),
        ({"clear": frozenset({"paused"})}, "clear"),
        ({"batch_size": 3, "clear": frozenset({"batch_size"})}, "batch_size"),
    ],
)
async def test_configure_rejects_bad_values_naming_the_field(
    store: SqlStore, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await Control(Context(store)).configure(actor=ALICE, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert await store.get_control() == ControlState()  # nothing written
    assert await store.query_audit(AuditQuery()) == []


# --- workers follow it -------------------------------------------------------------------------
async def test_paused_worker_claims_nothing_until_resumed(
    store: SqlStore, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork")
    control = Control(Context(store))
    await control.pause(actor=ALICE)
    processor = Processor(
        store,
        ProcessorSettings(
            roles=frozenset({ROLE_WORKER}),
            processor_id="p1",
            poll_interval_seconds=0.05,
            heartbeat_interval_seconds=0.05,
        ),
    )
    await processor.start()
    try:
        assert processor.worker is not None and processor.worker.paused
        state, reasons = processor.health()
        assert state == HEALTHY and reasons == [
            "worker: paused by alice; claiming no jobs until resumed"
        ]
        ids = await service.enqueue_many([EnqueueRequest("add", args=(1, 2)) for _ in range(3)])
        processor.notify_work()
        # Let the worker beat (and read the control) a few times: still nothing claimed.
        beats: set[datetime] = set()

        def seen_beats() -> bool:
            beats.add(processor.heartbeat.info.heartbeat_at)
            return len(beats) >= 4

        await wait_until(seen_beats)
        assert await states(service, ids) == [JobState.AVAILABLE] * 3
        assert await processor.worker.run_once() == 0

        await control.resume(actor=ALICE)
        await wait_states(service, ids, JobState.SUCCEEDED)
        assert processor.health() == (HEALTHY, [])
    finally:
        await processor.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("processing paused by alice" in m for m in messages) == 1  # said once
    assert any("processing resumed by alice" in m for m in messages)


async def test_pause_lets_running_jobs_finish(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    running = await service.enqueue(EnqueueRequest("slow", args=(0.3,)))
    assert await worker.run_once() == 1
    waiting = await service.enqueue(EnqueueRequest("add", args=(1, 1)))
    worker.apply_control(ControlState(paused=True))
    assert await worker.run_once() == 0
    await worker.stop()  # waits for running jobs and writes their results
    assert await states(service, [running, waiting]) == [JobState.SUCCEEDED, JobState.AVAILABLE]


async def test_batch_size_override_applies_to_claims(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    ids = await service.enqueue_many([EnqueueRequest("add", args=(i, i)) for i in range(5)])
    worker.apply_control(ControlState(batch_size=2))
    assert worker.batch_size == 2
    assert await worker.run_once() == 2
    worker.apply_control(ControlState())  # cleared: the process's own setting (10) again
    assert worker.batch_size == 10
    assert await worker.run_once() == 3
    await worker.stop()
    assert await states(service, ids) == [JobState.SUCCEEDED] * 5


async def test_concurrency_override_limits_new_claims_not_running_jobs(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    gate = f"override-{uuid.uuid4()}"  # the first jobs run until the test opens it
    first = await service.enqueue_many([EnqueueRequest("gated", args=(gate,)) for _ in range(3)])
    worker.apply_control(ControlState(max_concurrent_jobs=3))
    assert await worker.run_once() == 3
    more = await service.enqueue_many([EnqueueRequest("add", args=(1, 1)) for _ in range(4)])
    # Lowered below what runs: nothing new is claimed, and the running jobs are not stopped.
    worker.apply_control(ControlState(max_concurrent_jobs=1))
    assert worker.free_slots == -2
    assert await worker.run_once() == 0
    OPEN_GATES.add(gate)
    await wait_until(lambda: not worker.running_job_ids)
    assert await worker.run_once() == 1  # one slot now
    await wait_until(lambda: not worker.running_job_ids)
    # Raised above the process's own setting (10): the next claim takes that many.
    worker.apply_control(ControlState(max_concurrent_jobs=12, batch_size=20))
    slow = await service.enqueue_many([EnqueueRequest("slow", args=(0.1,)) for _ in range(10)])
    assert await worker.run_once() == 12  # of the 3 adds left and the 10 new ones
    await worker.stop()  # lets the running ones finish
    assert await states(service, first) == [JobState.SUCCEEDED] * 3
    left = await states(service, [*more, *slow])
    assert left.count(JobState.SUCCEEDED) == 13 and left.count(JobState.AVAILABLE) == 1


async def test_default_timeout_applies_to_tasks_without_their_own(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    worker.apply_control(ControlState(default_timeout_seconds=0.1))
    plain = await service.enqueue(EnqueueRequest("slow", args=(5,)))
    own = await service.enqueue(EnqueueRequest("own-timeout", args=(0.3,)))
    assert await worker.run_once() == 2
    await worker.stop()  # its 5 s shutdown timeout is never reached: 0.1 s and 0.3 s
    # The plain task timed out at the default; the other's own 5 s timeout won.
    assert await states(service, [plain, own]) == [JobState.TIMEOUT, JobState.SUCCEEDED]
    (run,) = await service.runs_of_job(plain)
    assert run.status is RunStatus.TIMEOUT
