"""tickwork retention benchmark: pruning a large runs table while a worker keeps working.

    .venv/bin/python bench/bench_prune.py                          # SQLite file, 1,000,000 runs
    .venv/bin/python bench/bench_prune.py --runs 200000
    .venv/bin/python bench/bench_prune.py --pg-url postgresql://postgres@127.0.0.1/test

For each backend: ``--runs`` finished jobs of one run each, 90 days old, over 50 tasks, are
written with one INSERT ... SELECT per table (a generated series). One process, as
``tickwork worker`` runs it, holds a worker and the pruner on one store; a producer on a store
of its own enqueues a no-op task at a steady rate (``--rate`` per second):

1. idle: the worker alone for ``--idle`` seconds;
2. pruning: one pass of the pruner with the default policy (30 days, the newest 100 runs of each
   task kept, batches of 1,000 rows, 50 ms apart), the producer going on until it ends.

Prints the pass's wall time and rows removed, and the enqueue-to-start latency (a job's
``started_at - created_at``) p50/p99/max of each phase; writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_api import fresh_url, pct

from tickwork.domain.jobs import JobState
from tickwork.domain.processors import ROLE_WORKER
from tickwork.domain.retention import RetentionPolicy
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.runtime.pruner import Pruner
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations
from tickwork.store.schema import jobs

HERE = Path(__file__).resolve().parent
TASKS = 50
PG_DB = "tickwork_bench_prune"
TICK = TaskDefinition(name="tick", target=PythonTarget("time:time"), source=TaskSource.CODE)

# One row per generated i: job i and its run i, 90 days old, one second apart.
SQLITE_JOBS = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)
INSERT INTO tickwork_jobs (id, task_name, state, args, kwargs, priority, scheduled_at, attempt,
    max_attempts, triggered_by, created_at, started_at, finished_at)
SELECT i, 'old-' || (i % 50), 'succeeded', '[]', '{}', 0, :t0 + i, 1, 1, 'scheduler',
    :t0 + i, :t0 + i, :t0 + i + 0.5 FROM s
"""
SQLITE_RUNS = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)
INSERT INTO tickwork_runs (id, job_id, task_name, attempt, status, triggered_by, started_at,
    finished_at, duration_seconds, worker_id, output)
SELECT i, i, 'old-' || (i % 50), 1, 'succeeded', 'scheduler', :t0 + i, :t0 + i + 0.5, 0.5,
    'bench', '{"ok": true}' FROM s
"""
PG_JOBS = """
INSERT INTO tickwork_jobs (id, task_name, state, args, kwargs, priority, scheduled_at, attempt,
    max_attempts, triggered_by, created_at, started_at, finished_at)
SELECT i, 'old-' || (i % 50), 'succeeded', '[]', '{}', 0, to_timestamp(:t0 + i), 1, 1,
    'scheduler', to_timestamp(:t0 + i), to_timestamp(:t0 + i), to_timestamp(:t0 + i + 0.5)
FROM generate_series(1, :n) AS i
"""
PG_RUNS = """
INSERT INTO tickwork_runs (id, job_id, task_name, attempt, status, triggered_by, started_at,
    finished_at, duration_seconds, worker_id, output)
SELECT i, i, 'old-' || (i % 50), 1, 'succeeded', 'scheduler', to_timestamp(:t0 + i),
    to_timestamp(:t0 + i + 0.5), 0.5, 'bench', '{"ok": true}'
FROM generate_series(1, :n) AS i
"""


def load(store: SqlStore, n: int) -> float:
    """``n`` old jobs and runs; the seconds the inserts took."""
    t0 = (datetime.now(UTC) - timedelta(days=90)).timestamp()
    pg = store.dialect == "postgresql"
    started = time.perf_counter()
    with store.engine.begin() as conn:
        for statement in (PG_JOBS, PG_RUNS) if pg else (SQLITE_JOBS, SQLITE_RUNS):
            conn.execute(sa.text(statement), {"n": n, "t0": t0})
        if pg:  # explicit IDs leave the sequences behind
            for table in ("tickwork_jobs", "tickwork_runs"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


async def produce(service: Service, rate: float, until: asyncio.Event | float) -> list[int]:
    """Enqueue ``tick`` every 1/rate s until ``until`` (an event, or a number of seconds)."""
    ids: list[int] = []
    deadline = time.monotonic() + until if isinstance(until, float) else None
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return ids
        if isinstance(until, asyncio.Event) and until.is_set():
            return ids
        ids.append(await service.enqueue(EnqueueRequest("tick")))
        await asyncio.sleep(1 / rate)


async def latencies(store: SqlStore, ids: list[int]) -> list[float]:
    """Enqueue-to-start seconds of the jobs ``ids``, once all have finished."""
    async with asyncio.timeout(120):
        while True:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(jobs.c.state, jobs.c.created_at, jobs.c.started_at).where(
                        jobs.c.id.in_(ids)
                    )
                ).all()
            if all(r.state == JobState.SUCCEEDED.value for r in rows):
                return [(r.started_at - r.created_at).total_seconds() for r in rows]
            await asyncio.sleep(0.2)


def figures(xs: list[float]) -> dict[str, float]:
    return {
        "n": len(xs),
        "p50_ms": round(pct(xs, 50) * 1000, 1),
        "p99_ms": round(pct(xs, 99) * 1000, 1),
        "max_ms": round(max(xs) * 1000, 1),
        "mean_ms": round(statistics.fmean(xs) * 1000, 1),
    }


async def bench(backend: str, url: str, n: int, rate: float, idle: float) -> dict[str, Any]:
    engine = create_store(url).engine
    migrations.upgrade(engine)
    engine.dispose()
    store = create_store(url)  # the worker process's store: worker and pruner
    producer = create_store(url)  # a producer process's
    await store.open()
    await producer.open()
    service = Service(Context(producer))
    await service.sync_definitions([TICK], [TaskSource.CODE])
    inserted = load(store, n)
    print(f"{backend}: {n:,} jobs and runs inserted in {inserted:.1f}s", flush=True)
    # The worker role as `tickwork worker` runs it (woken by commits), its pruner driven here.
    processor = Processor(store, ProcessorSettings(roles=frozenset({ROLE_WORKER})))
    await processor.start()
    try:
        await asyncio.sleep(1)
        idle_ids = await produce(service, rate, idle)
        idle_lat = await latencies(producer, idle_ids)
        done = asyncio.Event()
        producing = asyncio.create_task(produce(service, rate, done))
        started = time.perf_counter()
        report = await Pruner(store, RetentionPolicy()).prune()
        wall = time.perf_counter() - started
        done.set()
        busy_lat = await latencies(producer, await producing)
    finally:
        await processor.stop()
        await store.close()
        await producer.close()
    result = {
        "backend": backend,
        "runs": n,
        "insert_seconds": round(inserted, 1),
        "prune_seconds": round(wall, 1),
        "removed": report.counts,
        "batches": report.batches,
        "rows_per_second": round(report.total / wall),
        "idle": figures(idle_lat),
        "pruning": figures(busy_lat),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--backends", default=None, help="sqlite,postgres (default: all given)")
    parser.add_argument("--rate", type=float, default=20.0, help="enqueues per second")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase")
    args = parser.parse_args()
    backends = (args.backends or ("sqlite,postgres" if args.pg_url else "sqlite")).split(",")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for backend in backends:
            url = fresh_url(backend, args.pg_url, Path(scratch), "prune", PG_DB)
            result = asyncio.run(bench(backend, url, args.runs, args.rate, args.idle))
            results.append(result)
            print(json.dumps(result, indent=2), flush=True)
    print()
    print(
        f"{'backend':<9} {'runs':>9} {'prune s':>8} {'rows/s':>8} {'phase':<8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for r in results:
        for phase in ("idle", "pruning"):
            f = r[phase]
            print(
                f"{r['backend']:<9} {r['runs']:>9,} {r['prune_seconds']:>8} "
                f"{r['rows_per_second']:>8,} {phase:<8} {f['p50_ms']:>7} {f['p99_ms']:>7} "
                f"{f['max_ms']:>7}"
            )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"bench-prune-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
