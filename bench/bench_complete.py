"""Time ``Store.complete`` alone: batches of completions over a few tasks, one after another on
one store, p50 / p90 ms per batch (no worker, no claims: what the completion statement costs).

    .venv/bin/python bench/bench_complete.py [--pg-url URL] [--tasks 1 50] [--batch 200 10]

Completions of jobs not claimed still write their runs, rollups and each task's latest run;
their jobs stay as they are. Compare two versions of the store by running this script with
``PYTHONPATH`` set to each version's ``src``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_api import fresh_url, pct

from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.store import create_store
from tickwork.store import migrate as migrations

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PG_DB = "tickwork_bench_complete"


async def one(url: str, tasks: int, batch: int, batches: int, warmup: int) -> list[float]:
    """Seconds per ``complete`` call of ``batch`` completions spread over ``tasks`` tasks."""
    store = create_store(url)
    migrations.upgrade(store.engine)
    await store.open()
    try:
        names = [f"task-{i:02d}" for i in range(tasks)]
        target = HttpTarget(url="http://127.0.0.1:9/")
        await store.add_missing_tasks(
            [TaskDefinition(name=n, target=target) for n in names], dict.fromkeys(names), T0
        )
        times: list[float] = []
        for b in range(warmup + batches):
            started = T0 + timedelta(seconds=b)
            new = [NewJob(names[i % tasks], started, TriggeredBy.API) for i in range(batch)]
            ids = await store.enqueue(new, started)
            done = [
                Completion(
                    job_id=job_id,
                    task_name=job.task_name,
                    attempt=1,
                    triggered_by=TriggeredBy.API,
                    worker_id="bench",
                    started_at=started,
                    finished_at=started + timedelta(seconds=1),
                    outcome=Outcome(RunStatus.SUCCEEDED if i % 10 else RunStatus.FAILED),
                    next_state=JobState.SUCCEEDED,
                    due_at=started,
                )
                for i, (job_id, job) in enumerate(zip(ids, new, strict=True))
            ]
            t0 = time.perf_counter()
            await store.complete(done)
            times.append(time.perf_counter() - t0)
        return times[warmup:]
    finally:
        await store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", help="a PostgreSQL server to run on (default: SQLite)")
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 50])
    p.add_argument("--batch", type=int, nargs="+", default=[200, 10])
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    backend = "sqlite" if args.pg_url is None else "postgres"
    print(f"# {backend}: {args.batches} batches after {args.warmup}")
    print("| tasks | batch | p50 ms | p90 ms | µs per completion (p50) |")
    print("|---|---|---|---|---|")
    for tasks in args.tasks:
        for batch in args.batch:
            with tempfile.TemporaryDirectory() as scratch:
                url = fresh_url(backend, args.pg_url, Path(scratch), "complete", PG_DB)
                times = asyncio.run(one(url, tasks, batch, args.batches, args.warmup))
            p50 = pct(times, 50)
            print(
                f"| {tasks} | {batch} | {p50 * 1000:.2f} | {pct(times, 90) * 1000:.2f} |"
                f" {p50 / batch * 1e6:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
