"""tickwork benchmark: analytics queries over the rollups of 1M runs, p50/p99 per query.

    .venv/bin/python bench/bench_analytics.py                  # SQLite file in a temp dir
    .venv/bin/python bench/bench_analytics.py --url postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python bench/bench_analytics.py --runs 200000 --reps 20
    .venv/bin/python bench/bench_analytics.py --cost [--url postgresql://...]
    .venv/bin/python bench/bench_analytics.py --reuse URL [--live | --cold]

The rollups are built as the completion path builds them: synthetic finished runs (50 tasks
with tags, 30 days, log-normal durations, 10 % failures with a few error messages each, 20
concurrency keys per task, waits) go through ``store.rollups.rollup_rows`` and the same
upserts, 20,000 runs per transaction (the table holds the same sums whatever the batching; the
runs table itself is left empty, as the analytics never read it). Each query then goes through
the use case (``service.stats.stats_report``, ``Analytics.insights``) as the CLI and the API
call it, ``--reps`` times.

``--live``: before each repetition one run finishes in the range's last hour (at 23:59:59 of
its last day; with ``--live-tasks N`` one run of each of N tasks), as in a running system, so
the sums of that hour are read again (those of the days and settled hours before come from the
store's cache while their run counts hold);
``--cold``: that cache off, every read sums every day. Each query's line gives the wall time's
p50 and p99 and the p50 of the CPU time of this process (with SQLite, the whole read; with
PostgreSQL, not the server's part).

``--cost``: what keeping the rollups costs the completion path, in one process: 20,000 jobs
(``--cost-jobs``) enqueued, claimed and completed in batches of 200 (``--batch``) as a worker
does, ``store.complete`` timed (CPU time of the calling and store threads, and wall time),
``--rounds`` rounds alternating between rollups on and off, the order swapped every round
(off: ``rollup_rows`` of the dialect's ``complete`` answers no rows, so neither the
aggregation nor the upserts run).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import observability_switch

from tickwork.clock import FakeClock
from tickwork.domain.stats import TASKS as TASK_FIGURES
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.launcher import settle_heap
from tickwork.service.analytics import Analytics
from tickwork.service.context import Context
from tickwork.service.stats import StatsRequest, parts_for, stats_report
from tickwork.store import SqlStore, create_store, rollups
from tickwork.store import migrate as migrations
from tickwork.store.rollup_cache import RollupCache
from tickwork.store.schema import error_rollups, key_rollups, series_rollups
from tickwork.store.schema import rollups as rollup_table

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
TASKS = 50
KEYS = 20
CHUNK = 20_000


def fresh_url(base: str | None, scratch: Path, name: str = "tickwork_bench_analytics") -> str:
    if base is None:
        scratch.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{scratch / 'analytics.db'}"
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def finished_runs(n: int, rand: random.Random, tasks: int = TASKS) -> list[rollups.Finished]:
    span = DAYS * 86400
    out = []
    for _ in range(n):
        t = rand.randrange(tasks)
        started = NOW - timedelta(seconds=rand.uniform(0, span))
        failed = rand.random() < 0.1
        status = ("timeout" if rand.random() < 0.2 else "failed") if failed else "succeeded"
        out.append(
            rollups.Finished(
                task_name=f"task-{t:02d}",
                status=status,
                started_at=started,
                duration_seconds=rand.lognormvariate(0, 1.2) * (1 + t % 7),
                wait_seconds=rand.expovariate(20.0),
                key=f"k{rand.randrange(KEYS)}" if t % 2 else None,
                error_type=("Timeout" if status == "timeout" else "KeyError") if failed else None,
                error_class=("timeout" if status == "timeout" else "unknown") if failed else None,
                error_message=f"row {rand.randrange(10**6)} missing in shard {rand.randrange(3)}"
                if failed
                else None,
            )
        )
    return out


async def build(store: SqlStore, n: int, tasks: int = TASKS) -> float:
    rand = random.Random(1)
    began = time.perf_counter()
    backend = store._backend  # the bench writes as the completion path does, on its dialect
    for start in range(0, n, CHUNK):
        batch = finished_runs(min(CHUNK, n - start), rand, tasks)
        with store.engine.begin() as conn:
            rollups.upsert(conn, backend, batch)
    return time.perf_counter() - began


async def timed(
    reps: int, fn: Callable[[], Awaitable[object]], before: Callable[[], None] = lambda: None
) -> tuple[float, float, float]:
    """p50 and p99 of the wall time, and p50 of this process's CPU time (all its threads: on
    a shared machine the wall time also counts the waits for a core), in ms."""
    await fn()  # warm caches and prepared statements
    times, cpu = [], []
    for _ in range(reps):
        before()
        began, began_cpu = time.perf_counter(), time.process_time()
        await fn()
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99, statistics.median(cpu)


async def complete_round(url: str, n: int, on: bool, size: int = 200) -> tuple[float, float]:
    """µs per job spent in ``store.complete`` (CPU, wall) for ``n`` jobs, rollups ``on``."""
    from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy

    observability_switch.set_rollups(on)
    store = create_store(url)
    migrations.upgrade(store.engine)
    await store.open()
    now = datetime.now(UTC)
    await store.add_missing_tasks(
        [TaskDefinition(name="amark", target=HttpTarget("http://127.0.0.1:9/"))], {}, now
    )
    for start in range(0, n, 5000):
        jobs = [NewJob("amark", now, TriggeredBy.API) for _ in range(min(5000, n - start))]
        await store.enqueue(jobs, now)
    cpu = wall = 0.0
    while True:
        claimed = await store.claim("w", size, datetime.now(UTC), 60)
        if not claimed:
            break
        started = datetime.now(UTC)
        batch = [
            Completion(
                job_id=j.id,
                task_name=j.task_name,
                attempt=j.attempt,
                triggered_by=j.run_triggered_by,
                worker_id="w",
                started_at=started,
                finished_at=started + timedelta(milliseconds=1),
                outcome=Outcome.success(),
                next_state=JobState.SUCCEEDED,
                due_at=j.scheduled_at,
                key=j.key,
            )
            for j in claimed
        ]
        c0, w0 = time.process_time(), time.perf_counter()
        await store.complete(batch)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    await store.close()
    return cpu / n * 1e6, wall / n * 1e6


async def cost(
    base: str | None, scratch: Path, rounds: int = 3, n: int = 20_000, batch: int = 200
) -> None:
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(rounds):
        for on in (False, True) if r % 2 == 0 else (True, False):
            url = fresh_url(base, scratch / f"cost-{r}-{on}")
            results[on].append(await complete_round(url, n, on, batch))
    print(
        f"# complete(), {n:,} jobs in batches of {batch}, {rounds} rounds alternating; "
        "median µs/job"
    )
    print("| rollups | CPU µs/job | wall µs/job |")
    print("|---|---|---|")
    for on in (False, True):
        cpu = statistics.median(c for c, _ in results[on])
        wall = statistics.median(w for _, w in results[on])
        print(f"| {'on' if on else 'off'} | {cpu:.1f} | {wall:.1f} |")
    diffs = sorted(on[0] - off[0] for on, off in zip(results[True], results[False], strict=True))
    print(f"# CPU µs/job on − off per round: {', '.join(f'{d:.1f}' for d in diffs)}")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", help="PostgreSQL URL (default: a SQLite file in a temp dir)")
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--cost", action="store_true", help="the rollups' cost in complete()")
    p.add_argument("--rounds", type=int, default=3, help="--cost: rounds of on and off")
    p.add_argument("--cost-jobs", type=int, default=20_000, help="--cost: jobs per round")
    p.add_argument("--batch", type=int, default=200, help="--cost: jobs completed together")
    p.add_argument("--reuse", help="the URL of a database built by an earlier run: time only")
    p.add_argument(
        "--database",
        default="tickwork_bench_analytics",
        help="PostgreSQL: the database to build into (dropped first)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="a run finishes on the last day before each repetition (its sums are read again)",
    )
    p.add_argument(
        "--live-tasks",
        type=int,
        default=1,
        help="--live: a run of this many tasks lands before each repetition (default 1)",
    )
    p.add_argument(
        "--cold", action="store_true", help="no cache of past days' sums: every read sums them"
    )
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tickwork-analytics-"))
    if args.cost:
        await cost(args.url, scratch, args.rounds, args.cost_jobs, args.batch)
        return
    url = args.reuse or fresh_url(args.url, scratch, args.database)
    store = create_store(url)
    if not args.reuse:
        migrations.upgrade(store.engine)
    await store.open()
    definitions = [
        TaskDefinition(
            name=f"task-{t:02d}",
            target=HttpTarget("http://127.0.0.1:9/"),
            tags=(f"team-{t % 5}",),
            schedule="*/5 * * * *",
            timeout_seconds=30.0,
        )
        for t in range(TASKS)
    ]
    await store.add_missing_tasks(definitions, {}, NOW)
    seconds = 0.0 if args.reuse else await build(store, args.runs)
    # Committed (``begin``): statistics gathered in a rolled-back transaction are lost, and the
    # planners then misjudge the ranges (PostgreSQL: a sort of every row, not a hash).
    with store.engine.begin() as conn:
        sizes = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (rollup_table, series_rollups, key_rollups, error_rollups)
        }
        conn.exec_driver_sql("ANALYZE")
    built = "reused" if args.reuse else f"of {args.runs:,} runs built in {seconds:.1f} s"
    print(f"# {store.dialect}: rollups {built}; rows {sizes}")
    analytics = Analytics(Context(store, clock=FakeClock(NOW)))
    if args.cold:
        store.rollup_cache = RollupCache(0)
    late = [
        run._replace(
            task_name=f"task-{(7 + 11 * i) % TASKS:02d}", started_at=NOW - timedelta(seconds=1)
        )
        for i, run in enumerate(finished_runs(args.live_tasks, random.Random(2)))
    ]

    def finish_one() -> None:
        """As a live system: the last day changes between two reads."""
        with store.engine.begin() as conn:
            rollups.upsert(conn, store._backend, late)

    def report(
        since: timedelta, by: str | None = None, **kw: str
    ) -> Callable[[], Awaitable[object]]:
        parts = parts_for(by) if by != "tasks" else frozenset({TASK_FIGURES})
        return lambda: stats_report(store, StatsRequest(NOW - since, NOW, **kw), parts)

    queries: dict[str, Callable[[], Awaitable[object]]] = {
        "stats 7d, per task only (CLI without --by; day rows)": report(timedelta(days=7), "tasks"),
        "stats 7d, every view (API without by)": report(timedelta(days=7)),
        "stats 7d, by hour (hour rows)": report(timedelta(days=7), "hour"),
        "stats 30d, every view": report(timedelta(days=30)),
        "stats 7d, one task, every view": report(timedelta(days=7), task="task-07"),
        "stats 7d, one tag (10 tasks), every view": report(timedelta(days=7), tag="team-3"),
        "stats 7d, one key": report(timedelta(days=7), key="k3"),
        "stats 1d, every view (hour rows)": report(timedelta(days=1)),
        "stats 1h, every view (minute rows)": report(timedelta(hours=1)),
        "stats 5h, every view (minute rows)": report(timedelta(hours=5)),
        "metrics 1d (/api/cron/metrics)": lambda: analytics.metrics(NOW - timedelta(days=1), NOW),
        "insights 1d (/api/cron/insights)": lambda: analytics.insights(
            NOW - timedelta(days=1), NOW
        ),
        "insights 7d": lambda: analytics.insights(NOW - timedelta(days=7), NOW),
    }
    settle_heap()  # as ``tickwork run`` and ``tickwork api`` do once started
    print("| query | p50 ms | p99 ms | CPU p50 ms |")
    print("|---|---|---|---|")
    for name, fn in queries.items():
        p50, p99, cpu = await timed(args.reps, fn, finish_one if args.live else lambda: None)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {cpu:.1f} |", flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
