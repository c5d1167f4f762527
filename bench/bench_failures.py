"""tickwork benchmark: failures grouped by error over a history of 1M jobs and runs.

    .venv/bin/python bench/bench_failures.py                      # SQLite file in a temp dir
    .venv/bin/python bench/bench_failures.py --backend postgres --pg-url postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python bench/bench_failures.py --jobs 200000 --reps 5

The history is written in SQL (one statement per table): ``--jobs`` jobs over 30 days, each
with one run, one in 53 failed (four error types, each message with its own order and
customer numbers, a traceback whose top frame follows the type). Each range then goes through
the use case (``Service.failures``) as the CLI, the API and the dashboard call it, ``--reps``
times; the 30-day range holds more failed jobs than the 5,000 read, so it is capped.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_api import fresh_url, migrated_store, pct

from tickwork.clock import FakeClock
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore, latest

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
TASKS = 50
RANGES = ("1h", "24h", "7d", "30d")
FAILED = "i % 53 = 0"
# Task names as bench_analytics writes them: task-07, task-123.
NAME = "'task-' || CASE WHEN i % :tasks < 10 THEN '0' ELSE '' END || (i % :tasks)"
# One expression list for both dialects; the time and newline functions differ.
JOBS = """
INSERT INTO tickwork_jobs (id, task_name, state, args, kwargs, priority, scheduled_at, attempt,
    max_attempts, triggered_by, created_at, started_at, finished_at)
SELECT i, {name}, CASE WHEN {failed} THEN 'failed' ELSE 'succeeded' END, '[]',
    '{{}}', 0, {t}, 1, 1, 'scheduler', {t}, {t}, {t}
FROM {series}
"""
RUNS = """
INSERT INTO tickwork_runs (id, job_id, task_name, attempt, status, triggered_by, started_at,
    finished_at, duration_seconds, worker_id, error_type, error_class, error_message, traceback)
SELECT i, i, {name}, 1, CASE WHEN {failed} THEN 'failed' ELSE 'succeeded' END,
    'scheduler', {t}, {t}, 0.5, 'bench',
    CASE WHEN {failed} THEN 'Error' || (i % 4) END,
    CASE WHEN {failed} THEN 'unknown' END,
    CASE WHEN {failed} THEN 'order ' || i || ' failed for customer ' || (i % 997) END,
    CASE WHEN {failed} THEN 'Traceback (most recent call last):' || {nl}
        || '  File "/srv/app/jobs.py", line ' || (i % 90) || ', in step' || (i % 4) || {nl} END
FROM {series}
"""
SQLITE = {
    "series": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)"
    " SELECT i FROM s)",
    "t": "(:t0 + i * :step)",
    "nl": "char(10)",
}
POSTGRES = {
    "series": "generate_series(1, :n) AS i",
    "t": "to_timestamp(:t0 + i * :step)",
    "nl": "chr(10)",
}


def load(store: SqlStore, n: int, tasks: int = TASKS) -> float:
    """``n`` jobs and runs over the 30 days before ``NOW``, spread over ``tasks`` tasks named as
    ``bench_analytics`` names them (``task-07``); the seconds the inserts took."""
    spelling = POSTGRES if store.dialect == "postgresql" else SQLITE
    t0 = (NOW - timedelta(days=DAYS)).timestamp()
    started = time.perf_counter()
    with store.engine.begin() as conn:
        for statement in (JOBS, RUNS):
            conn.execute(
                sa.text(statement.format(failed=FAILED, name=NAME, **spelling)),
                {"n": n, "t0": t0, "step": DAYS * 86400 / n, "tasks": tasks},
            )
        latest.rebuild(conn)  # each task's latest run, as completions would have kept it
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


async def bench(backend: str, pg_url: str | None, n: int, reps: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = fresh_url(backend, pg_url, Path(scratch), "failures", "tickwork_bench_failures")
        store = await migrated_store(url)
        try:
            print(f"{backend}: {n:,} jobs and runs written in {load(store, n):.1f} s")
            service = Service(Context(store, clock=FakeClock(NOW), resolve=None))
            for since in RANGES:
                times = []
                for _ in range(reps):
                    started = time.perf_counter()
                    report = await service.failures(since=since)
                    times.append(time.perf_counter() - started)
                print(
                    f"  since {since:>3}: {report.read:>5} failed jobs read"
                    f"{' (capped)' if report.capped else '':9} {len(report.groups)} groups,"
                    f" p50 {pct(times, 50) * 1000:7.1f} ms, max {max(times) * 1000:7.1f} ms"
                )
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(bench(args.backend, args.pg_url, args.jobs, args.reps))


if __name__ == "__main__":
    main()
