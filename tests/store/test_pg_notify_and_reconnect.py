"""PostgreSQL only: LISTEN/NOTIFY wake-ups (latency, which writes notify, reconnect) and
recovery from connections the server dropped (pg_terminate_backend)."""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy
from tickwork.domain.queries import DueSchedule, Fire
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.errors import StoreError
from tickwork.store import SqlStore, create_store
from tickwork.store.engines import normalize_url
from tickwork.store.open import store_on
from tickwork.store.postgres.watch import PgNotifyWatcher

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)


def job(name: str = "t", when: datetime = T0, **kw: object) -> NewJob:
    return NewJob(task_name=name, scheduled_at=when, triggered_by=TriggeredBy.API, **kw)  # type: ignore[arg-type]


class Recorder:
    """An ``on_change`` callback that records when it was called (from the watcher thread)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.perf_counter())
        self.event.set()

    def clear(self) -> None:
        self.times.clear()
        self.event.clear()

    async def wait(self, timeout: float) -> bool:
        return await asyncio.to_thread(self.event.wait, timeout)


def terminate(url: str, where: str = "TRUE") -> int:
    """Terminate the other sessions on the database of ``url`` that match ``where``, and wait
    until they are gone: pg_terminate_backend only signals the backend, and a client that
    looked at its socket before the backend exited would not know yet (a race, under load)."""
    engine = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                    f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND {where}"
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    a, b = create_store(pg_url), create_store(pg_url)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_watcher_wakes_on_each_of_another_stores_enqueues(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    watching, other = stores
    rec = Recorder()
    watcher = await asyncio.to_thread(watching.watch, rec)  # off the loop: the thread watcher
    assert isinstance(watcher, PgNotifyWatcher)
    try:
        await other.enqueue([job()], T0)  # warm up: the first call opens a connection
        assert await rec.wait(1.0)
        latencies = []
        for _ in range(20):
            rec.clear()
            start = time.perf_counter()
            await other.enqueue([job()], T0)
            assert await rec.wait(1.0), "no notification within 1 s"
            latencies.append(rec.times[0] - start)
    finally:
        watcher.close()
    # From the enqueue call (its own commit included) to the callback in the other store.
    # How fast is a figure of bench/bench_store.py (latency), not an assertion here: a loaded
    # machine may delay a callback by a scheduling slice without anything being wrong.
    median, worst = statistics.median(latencies), max(latencies)
    print(f"enqueue -> watcher callback: median {median * 1000:.2f} ms, max {worst * 1000:.2f} ms")
    assert len(latencies) == 20


async def test_only_writes_that_make_jobs_due_or_pending_notify(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    watching, other = stores
    defn = TaskDefinition(
        name="cron", target=PythonTarget("m:f"), schedule="* * * * *", source=TaskSource.CODE
    )
    await other.sync_tasks([defn], [TaskSource.CODE], {"cron": T0}, T0)
    await other.enqueue([job("a"), job("b"), job("c")], T0)
    rec = Recorder()
    watcher = await asyncio.to_thread(watching.watch, rec)  # off the loop: the thread watcher
    try:
        a, b, c = await other.claim("w", 3, T0, 30)

        def done(j: object, state: JobState, retry_at: datetime | None = None) -> Completion:
            return Completion(
                job_id=j.id,  # type: ignore[attr-defined]
                task_name=j.task_name,  # type: ignore[attr-defined]
                attempt=1,
                triggered_by=TriggeredBy.API,
                worker_id="w",
                started_at=T0,
                finished_at=T0,
                outcome=Outcome.success()
                if state is JobState.SUCCEEDED
                else Outcome.failure("E", "x"),
                next_state=state,
                retry_at=retry_at,
            )

        # Claims, terminal results, extending leases and queries make nothing due.
        await other.complete([done(a, JobState.SUCCEEDED)])
        await other.extend_leases("w", [b.id, c.id], T0 + timedelta(seconds=60))
        await other.count_jobs_by_state()
        assert not await rec.wait(0.15)

        for write in (
            other.complete([done(b, JobState.RETRYING, T0 + timedelta(seconds=1))]),
            other.release("w", [c.id], T0, "shutdown"),
            other.fire_due(T0, 10, lambda d: Fire(d.task_name, d.next_fire_at, None, fire_job(d))),
        ):
            rec.clear()
            await write
            assert await rec.wait(1.0)
    finally:
        watcher.close()


def fire_job(d: DueSchedule) -> NewJob:
    return NewJob(
        task_name=d.task_name,
        scheduled_at=d.next_fire_at,
        triggered_by=TriggeredBy.SCHEDULER,
        fire_at=d.next_fire_at,
    )


async def test_watcher_reconnects_after_its_connection_is_killed(
    stores: tuple[SqlStore, SqlStore], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    watching, other = stores
    rec = Recorder()
    caplog.set_level(logging.INFO, logger="tickwork.watch")
    watcher = await asyncio.to_thread(watching.watch, rec)  # off the loop: the thread watcher
    try:
        assert terminate(pg_url, "application_name = 'tickwork-watch'") == 1
        # After the reconnect the callback fires once (notifications meanwhile are lost),
        # then again for each later commit.
        assert await rec.wait(3.0)
        rec.clear()
        await other.enqueue([job()], T0)
        assert await rec.wait(1.0)
    finally:
        watcher.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "notifications unavailable" in warnings[0].getMessage()
    assert any("restored" in r.getMessage() for r in caplog.records)


async def test_a_dropped_connection_is_recovered(pg_url: str) -> None:
    # The default engine checks a pooled connection before handing it out.
    store = create_store(pg_url)
    try:
        await store.enqueue([job()], T0)
        assert terminate(pg_url) >= 1
        await store.enqueue([job()], T0)
        assert (await store.count_jobs_by_state())[JobState.AVAILABLE] == 2
    finally:
        await store.close()
    # Without the ping, a read is retried once on a new connection; a write is not (its commit
    # may have happened) and surfaces a StoreError that the runtime loops retry.
    engine = sa.create_engine(normalize_url(pg_url), pool_size=2, pool_pre_ping=False)
    bare = store_on(engine, threads=2)
    try:
        assert (await bare.count_jobs_by_state())[JobState.AVAILABLE] == 2
        assert terminate(pg_url) >= 1
        assert (await bare.count_jobs_by_state())[JobState.AVAILABLE] == 2
        assert terminate(pg_url) >= 1
        # A keyed job is written through the pool (plain ones go on the loop's connection).
        with pytest.raises(StoreError, match="AdminShutdown"):
            await bare.enqueue([job(unique_key="k1")], T0)
        await bare.enqueue([job(unique_key="k2")], T0)  # the next call gets a new connection
        assert (await bare.count_jobs_by_state())[JobState.AVAILABLE] == 3
    finally:
        await bare.close()
