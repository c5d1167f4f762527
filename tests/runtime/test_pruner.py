"""The pruner in a process: its loop under a fake clock, a worker process's own passes
(audited as the processor), and a large prune while a real worker keeps claiming."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.store import retention_rows as rr
from tests.store.retention_rows import NOW
from tickwork.clock import FakeClock
from tickwork.config import Settings
from tickwork.domain.access import AuditQuery
from tickwork.domain.jobs import JobState
from tickwork.domain.retention import PruneReport, RetentionPolicy
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.launcher import serve
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.processor import Processor
from tickwork.runtime.pruner import Pruner
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore
from tickwork.store import schema as s

ADD = TaskDefinition(
    name="add",
    target=PythonTarget("tests.runtime.jobs_for_tests:add"),
    args=(1, 2),
    source=TaskSource.CODE,
)


async def test_the_loop_prunes_every_interval_by_its_clock(store: SqlStore) -> None:
    rr.insert(store.engine, s.jobs, [rr.job(1, "a", "succeeded", 40)])
    rr.insert(store.engine, s.runs, [rr.run(1, 1, "a", 40)])
    clock = FakeClock(NOW - timedelta(days=20))  # the run is 20 days old: kept for now
    reports: list[PruneReport] = []

    async def on_pruned(report: PruneReport) -> None:
        reports.append(report)

    policy = RetentionPolicy(keep_last_runs=0, interval_seconds=0.02, pause_seconds=0)
    pruner = Pruner(store, policy, clock=clock, on_pruned=on_pruned)
    await pruner.start()
    try:
        await asyncio.sleep(0.2)  # several passes, none due to remove anything
        assert rr.ids(store.engine, s.runs) == {1} and reports == []
        clock.set(NOW)  # 40 days old now
        async with asyncio.timeout(10):
            while not reports:
                await asyncio.sleep(0.02)
    finally:
        await pruner.stop()
    assert reports[0].counts["runs"] == 1 and reports[0].counts["jobs"] == 1
    assert len(reports) == 1  # passes that remove nothing are not reported
    assert rr.count(store.engine, s.runs) == 0


async def test_a_worker_process_prunes_and_audits_as_itself(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url,
        retention=RetentionPolicy(keep_last_runs=0, interval_seconds=0.05, pause_seconds=0),
    )
    started: list[tuple[Processor, Service]] = []
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve(
            settings,
            [ADD],
            [TaskSource.CODE],
            stop=stop,
            on_started=lambda p, svc: started.append((p, svc)),
            roles=frozenset({"worker"}),
        )
    )
    try:
        async with asyncio.timeout(10):
            while not started:
                await asyncio.sleep(0.02)
        processor, service = started[0]
        old = datetime.now(UTC) - timedelta(days=100)
        engine = service.store.engine  # type: ignore[attr-defined]
        job, run = rr.job(1, "add", "succeeded", 0), rr.run(1, 1, "add", 0)
        job["finished_at"], run["started_at"], run["finished_at"] = old, old, old
        rr.insert(engine, s.jobs, [job])
        rr.insert(engine, s.runs, [run])
        async with asyncio.timeout(10):
            while not (entries := await service.audit_log(AuditQuery(action="retention.prune"))):
                await asyncio.sleep(0.02)
        (entry,) = entries
        assert entry.actor == f"processor:{processor.settings.processor_id}"
        assert entry.after is not None and entry.after["removed"]["runs"] == 1
        assert rr.count(engine, s.jobs) == 0
    finally:
        stop.set()
        await serving


async def test_a_large_prune_runs_while_a_worker_keeps_claiming(store: SqlStore) -> None:
    # 50,000 old runs (5,000 finished jobs of 10 attempts each), far from the worker's IDs.
    base = 10_000_000
    old = datetime.now(UTC) - timedelta(days=90)
    jobs = [rr.job(base + i, "old", "succeeded", 0) for i in range(5000)]
    runs = [rr.run(base + i, base + i // 10, "old", 0) for i in range(50_000)]
    for row in jobs:
        row["finished_at"] = old
    for row in runs:
        row["started_at"] = row["finished_at"] = old
    rr.insert(store.engine, s.jobs, jobs)
    rr.insert(store.engine, s.runs, runs)
    service = Service(Context(store))
    await service.sync_definitions([ADD], [TaskSource.CODE])
    worker = Worker(
        store,
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(worker_id="w1", batch_size=10, poll_interval_seconds=0.02),
    )
    await worker.start()
    policy = RetentionPolicy(keep_last_runs=0, batch_size=1000, pause_seconds=0.005)
    try:
        pruning = asyncio.create_task(Pruner(store, policy).prune())
        job_ids: list[int] = []
        while not pruning.done():  # enqueue as long as the prune runs
            job_ids.append(await service.enqueue(EnqueueRequest("add")))
            await asyncio.sleep(0.01)
        report = await pruning
        job_ids.append(await service.enqueue(EnqueueRequest("add")))
        async with asyncio.timeout(30):
            for job_id in job_ids:
                while (await service.get_job(job_id)).state is not JobState.SUCCEEDED:
                    await asyncio.sleep(0.02)
    finally:
        await worker.stop()
        await worker.dispatcher.aclose()
    assert report.counts["runs"] == 50_000 and report.counts["jobs"] == 5000
    assert report.batches >= 50 + 5  # at most 1,000 rows per transaction
    assert len(job_ids) > 1
    # Every job the worker ran is still there, with its run.
    assert rr.count(store.engine, s.runs) == len(job_ids)
