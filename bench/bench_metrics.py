"""tickwork metrics benchmark: what one ``/metrics`` snapshot costs the store, and rendering it.

    .venv/bin/python bench/bench_metrics.py                                  # SQLite file
    .venv/bin/python bench/bench_metrics.py --pg-url postgresql://postgres@127.0.0.1/test

For each backend: 100,000 finished runs over 50 scheduled tasks (10 % failed, as in
bench_api.py), the lifetime rollup rows those runs make (duration by status and bucket, wait),
1,000 pending jobs and 10 processors. Then ``Store.cluster_figures`` (the one read behind a
scrape; the API keeps it 5 s) is timed ``--reads`` times, and the Prometheus exposition of the
snapshot ``--reads`` times, written anew and as kept for the snapshot's later scrapes. Prints
p50/p99 in milliseconds and the size of a scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_api import TASKS, fresh_url, pct, rows, task_name

from tickwork.api.metrics import Exposition
from tickwork.clock import FakeClock
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.metrics import Metrics
from tickwork.store import create_store, latest, rollups
from tickwork.store import migrate as migrations
from tickwork.store.schema import jobs, runs

CHUNK = 5_000


def finished(run_rows: list[dict[str, Any]]) -> list[rollups.Finished]:
    """The runs as the rollup writer sees them (a wait of a tenth of each run's duration)."""
    return [
        rollups.Finished(
            task_name=r["task_name"],
            status=r["status"],
            started_at=r["started_at"],
            duration_seconds=r["duration_seconds"],
            wait_seconds=r["duration_seconds"] / 10,
            key=None,
        )
        for r in run_rows
    ]


async def bench(url: str, n: int, reads: int) -> dict[str, float]:
    store = create_store(url)
    migrations.upgrade(store.engine)
    await store.open()
    definitions = [
        TaskDefinition(
            name=task_name(i),
            target=HttpTarget(url=f"https://example.com/hooks/{i}"),
            schedule="*/5 * * * *",
        )
        for i in range(TASKS)
    ]
    await Service(Context(store, resolve=None)).sync_definitions(definitions, [TaskSource.CONFIG])
    now = datetime.now(UTC)
    job_rows, run_rows = rows(n, now - timedelta(seconds=n * 3 + 60))
    with store.engine.begin() as conn:
        for i in range(0, n, CHUNK):
            conn.execute(jobs.insert(), job_rows[i : i + CHUNK])
            conn.execute(runs.insert(), run_rows[i : i + CHUNK])
        latest.rebuild(conn)  # each task's latest run, as completions would have kept it
        # Every rollup row the completion path writes for these runs, through its own writer.
        rollups.upsert(conn, store._backend, finished(run_rows))
        if store.dialect == "postgresql":
            for table in ("tickwork_jobs", "tickwork_runs"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n + 1})"
                )
            conn.exec_driver_sql("ANALYZE")
    pending = [
        NewJob(task_name(i % TASKS), now + timedelta(seconds=i - 500), TriggeredBy.API)
        for i in range(1000)
    ]
    await store.enqueue(pending, now)
    for i in range(10):
        await store.heartbeat(ProcessorInfo(f"p{i}", "worker", "bench", i, "v", now, now, None))
    read_ms: list[float] = []
    for _ in range(reads):
        t0 = time.perf_counter()
        await store.cluster_figures(datetime.now(UTC))
        read_ms.append((time.perf_counter() - t0) * 1000)
    snapshot = await Metrics(Context(store, clock=FakeClock(now))).snapshot()
    render_ms: list[float] = []
    for _ in range(reads):
        t0 = time.perf_counter()
        body, _ = Exposition().render(snapshot, None)  # a new snapshot's first scrape
        render_ms.append((time.perf_counter() - t0) * 1000)
    kept = Exposition()
    kept.render(snapshot, None)
    cached_ms: list[float] = []
    for _ in range(reads):
        t0 = time.perf_counter()
        kept.render(snapshot, None)  # the next scrapes within the snapshot's 5 s
        cached_ms.append((time.perf_counter() - t0) * 1000)
    await store.close()
    return {
        "read_p50_ms": statistics.median(read_ms),
        "read_p99_ms": pct(read_ms, 99),
        "render_p50_ms": statistics.median(render_ms),
        "render_p99_ms": pct(render_ms, 99),
        "cached_p50_ms": statistics.median(cached_ms),
        "scrape_kib": len(body) / 1024,
        "series": float(sum(1 for line in body.splitlines() if not line.startswith(b"#"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    backends = ["sqlite", *(["postgres"] if args.pg_url else [])]
    print(f"{args.runs:,} runs over {TASKS} tasks, 1,000 pending jobs, {args.reads} reads each")
    with tempfile.TemporaryDirectory() as scratch:
        for backend in backends:
            url = fresh_url(backend, args.pg_url, Path(scratch))
            r = asyncio.run(bench(url, args.runs, args.reads))
            print(
                f"{backend:>8}: snapshot read p50 {r['read_p50_ms']:.1f} ms, p99"
                f" {r['read_p99_ms']:.1f} ms; exposition p50 {r['render_p50_ms']:.1f} ms"
                f" (kept for the snapshot: {r['cached_p50_ms']:.2f} ms);"
                f" {r['series']:.0f} series, {r['scrape_kib']:.0f} KiB"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
