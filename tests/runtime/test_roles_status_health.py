"""Processor roles, degraded health while the store is unreachable, `Service.status` (processor
states and running jobs) and `Service.reset_stuck`, on a real store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.jobs import JobState, RunStatus
from tickwork.domain.processors import ROLE_SCHEDULER, ROLE_WORKER
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, StoreError
from tickwork.runtime.processor import DEGRADED, HEALTHY, Processor, ProcessorSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_roles_make_the_components() -> None:
    store: Any = object()  # never called: nothing is started
    worker = Processor(store, ProcessorSettings(roles=frozenset({ROLE_WORKER})))
    assert worker.worker is not None and worker.scheduler is None
    assert worker.settings.role == "worker"
    scheduler = Processor(store, ProcessorSettings(roles=frozenset({ROLE_SCHEDULER})))
    assert scheduler.worker is None and scheduler.scheduler is not None
    both = ProcessorSettings(processor_id="node-1")
    assert both.role == "scheduler+worker" and both.processor_id == "node-1"
    with pytest.raises(ConfigError, match="roles"):
        ProcessorSettings(roles=frozenset({"api"}))
    with pytest.raises(ConfigError, match="roles"):
        ProcessorSettings(roles=frozenset())
    with pytest.raises(ConfigError, match="processor_id"):
        ProcessorSettings(processor_id=" ")


class FlakyStore:
    """A real store whose every call fails with StoreError while ``down`` is set."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not asyncio.iscoroutinefunction(attr) or name in ("open", "close"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError("OperationalError: connection refused")
            return await attr(*args, **kwargs)

        return call


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_health_is_degraded_while_the_store_is_unreachable(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork")
    flaky = FlakyStore(store)
    settings = ProcessorSettings(
        processor_id="p1", poll_interval_seconds=0.05, heartbeat_interval_seconds=0.05
    )
    processor = Processor(flaky, settings)  # type: ignore[arg-type]
    await processor.start()
    try:
        assert processor.health() == (HEALTHY, [])
        flaky.down = True
        await wait_until(lambda: len(processor.health()[1]) >= 3)
        state, reasons = processor.health()
        assert state == DEGRADED
        assert any(r.startswith("scheduler: store unreachable") for r in reasons)
        assert any(r.startswith("worker claims: store unreachable") for r in reasons)
        assert any("connection refused" in r for r in reasons)
        flaky.down = False
        await wait_until(lambda: processor.health() == (HEALTHY, []))
    finally:
        await processor.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any("store unreachable" in m and "retrying in" in m for m in messages)
    assert any("store reachable again" in m for m in messages)


def beat(pid: str, heartbeat: datetime, stopped: datetime | None = None) -> ProcessorInfo:
    return ProcessorInfo(
        id=pid,
        role="worker",
        host="h",
        pid=1,
        version="0.1.0",
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=heartbeat,
        stopped_at=stopped,
    )


async def test_status_shows_processor_states_and_running_jobs(store: SqlStore) -> None:
    service = Service(Context(store, clock=FakeClock(NOW)))
    defn = TaskDefinition(name="t", target=ShellTarget("true"), source=TaskSource.CODE)
    await service.sync_definitions([defn], [TaskSource.CODE])
    await service.enqueue_many([EnqueueRequest("t")] * 3)
    await store.claim("alive", 2, NOW, 60)
    await store.heartbeat(beat("alive", NOW - timedelta(seconds=30)))
    await store.heartbeat(beat("lost", NOW - timedelta(seconds=30.001)))
    await store.heartbeat(beat("stopped", NOW - timedelta(hours=1), NOW - timedelta(hours=1)))
    st = await service.status(heartbeat_interval_seconds=10)
    by_id = {p.info.id: (p.state, p.running_jobs) for p in st.processors}
    assert by_id == {"alive": ("running", 2), "lost": ("lost", 0), "stopped": ("stopped", 0)}
    assert st.jobs_by_state[JobState.RUNNING] == 2


async def test_reset_stuck_records_the_operators_reason(store: SqlStore) -> None:
    clock = FakeClock(NOW)
    service = Service(Context(store, clock=clock))
    defn = TaskDefinition(name="t", target=ShellTarget("true"), source=TaskSource.CODE)
    await service.sync_definitions([defn], [TaskSource.CODE])
    job_id = await service.enqueue(EnqueueRequest("t"))
    await store.claim("w", 1, NOW, 3600)
    clock.advance(299)
    assert await service.reset_stuck(300) == []
    clock.advance(1)
    [job] = await service.reset_stuck(300)
    # Back in the queue although it had one attempt only: an operator's reset is no failure.
    assert job.id == job_id and job.state is JobState.AVAILABLE and job.max_attempts == 2
    [run] = await service.runs_of_job(job_id)
    assert run.status is RunStatus.INTERRUPTED
    assert run.error_message == "reset by an operator: running longer than 5m"
    # The service's max_interruptions applies (here 0: the first reset fails the job).
    strict = Service(Context(store, clock=clock, max_interruptions=0))
    await store.claim("w", 1, clock.now(), 3600)
    clock.advance(300)
    [failed] = await strict.reset_stuck(300)
    assert failed.id == job_id and failed.state is JobState.FAILED
    assert "max_interruptions=0" in (failed.last_error or "")
    with pytest.raises(ConfigError, match="older_than"):
        await service.reset_stuck(0)
