"""tickwork benchmark: server time of the dashboard's overview, jobs list and job page with
10,000 job definitions and 1M runs, p50/p99 per page.

    .venv/bin/python bench/bench_dashboard_lists.py                       # SQLite file
    .venv/bin/python bench/bench_dashboard_lists.py --pg-url postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/bench_dashboard_lists.py --runs 200000 --reps 30
    .venv/bin/python bench/bench_dashboard_lists.py --reuse URL [--profile /jobs]

The database: ``--tasks`` definitions (HTTP, shell and Python targets; cron and ``every``
schedules, one in ten on demand; one to three tags of 20; one in 25 disabled, one in 50 paused
with a reason), then ``--runs`` jobs with one run each over 30 days (``bench_failures.load``,
one in 53 failed) and the rollups of ``--rollup-runs`` synthetic runs over the same tasks
(``bench_analytics.build``: the figures of the overview and the job page come from rollups;
building them for 1M runs takes ~10 minutes, so the default is fewer). ``--reuse`` times an
existing database again.

The app is the one ``tickwork api`` serves (``dashboard.app.create_app``), called in-process
through its ASGI interface with an admin's session cookie; the time of a request is measured
around the app's call (from the request to the response's last byte), so it is server time
without a network or client in it; beside it the process's CPU time (all threads), which other
load on the machine sways less. The clock is fixed at the end of the history.

``--profile PATH``: cProfile over ``--reps`` requests of one page, the 25 most costly calls.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from bench_analytics import build as build_rollups
from bench_api import fresh_url, pct
from bench_failures import NOW
from bench_failures import load as load_history

from tickwork.api.deps import ApiContext
from tickwork.clock import FakeClock
from tickwork.config.api import ApiSettings
from tickwork.dashboard.app import create_app
from tickwork.dashboard.web import SESSION_COOKIE
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.tasks import (
    HttpTarget,
    PythonTarget,
    ShellTarget,
    Target,
    TaskDefinition,
    new_pause,
)
from tickwork.service.context import Context
from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations

PG_DB = "tickwork_bench_dashboard_lists"
ADMIN = "bench-admin"
PASSWORD = "bench-password-1"
CRONS = ("*/5 * * * *", "0 * * * *", "30 9 * * 1-5", "15 2 * * *", "0 */6 * * *")
EVERY = ("every 30s", "every 5m", "every 1h30m")
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def task_name(i: int) -> str:
    return f"task-{i:02d}"  # as bench_analytics and bench_failures name them


def definitions(n: int) -> list[TaskDefinition]:
    rand = random.Random(3)
    out = []
    for i in range(n):
        target: Target
        if i % 3 == 0:
            target = HttpTarget(f"http://127.0.0.1:9/hook/{i}")
        elif i % 3 == 1:
            target = ShellTarget(f"echo {i}")
        else:
            target = PythonTarget("bench_tasks:noop")
        schedule = None if i % 10 == 9 else (CRONS[i % 5] if i % 2 else EVERY[i % 3])
        tags = tuple(sorted({f"team-{rand.randrange(20)}" for _ in range(1 + i % 3)}))
        out.append(
            TaskDefinition(
                name=task_name(i),
                target=target,
                schedule=schedule,
                timezone=ZONES[i % 3],
                timeout_seconds=30.0 + i % 60,
                tags=tags,
                enabled=i % 25 != 0,
                description=f"bench job {i}",
            )
        )
    return out


async def build(store: SqlStore, tasks: int, runs: int, rollup_runs: int) -> None:
    began = time.perf_counter()
    defs = definitions(tasks)
    await store.add_missing_tasks(defs, {d.name: NOW for d in defs if d.schedule}, NOW)
    for i in range(0, tasks, 50):
        pause = new_pause("bench: upstream down", None, ADMIN, NOW - timedelta(hours=1))
        await store.pause_task(task_name(i + 7), pause)
    print(f"  {tasks:,} definitions written in {time.perf_counter() - began:.1f} s", flush=True)
    print(f"  {runs:,} jobs and runs written in {load_history(store, runs, tasks):.1f} s")
    seconds = await build_rollups(store, rollup_runs, tasks)
    print(f"  rollups of {rollup_runs:,} runs written in {seconds:.1f} s", flush=True)
    with store.engine.begin() as conn:  # committed: the planners keep these statistics
        conn.exec_driver_sql("ANALYZE")


def timing(app: App, times: list[tuple[float, float]]) -> App:
    """``app``, each call's wall time and the process's CPU time meanwhile (every thread: the
    store's too; less swayed by other load on the machine than the wall time) appended to
    ``times`` (seconds)."""

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        began, cpu = time.perf_counter(), time.process_time()
        await app(scope, receive, send)
        if scope["type"] == "http":
            times.append((time.perf_counter() - began, time.process_time() - cpu))

    return timed


async def session_of(ctx: ApiContext, app: Any) -> str:
    """An admin's session cookie (the user made if the database has none)."""
    if await ctx.accounts.store.get_user(ADMIN) is None:
        await ctx.accounts.create_user(ADMIN, Role.ADMIN, PASSWORD, actor=LOCAL)
    cookie, _ = await app.state.sessions.login(ADMIN, PASSWORD)
    return str(cookie)


async def measure(url: str, tasks: int, reps: int, profile: str | None) -> None:
    store = create_store(url)
    await store.open()
    try:
        core = Context(store, clock=FakeClock(NOW), resolve=None)
        ctx = ApiContext.build(core, ApiSettings(rate_limit=None), events=None)
        app = create_app(ctx)
        times: list[tuple[float, float]] = []
        transport = httpx.ASGITransport(app=timing(app, times))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            client.cookies.set(SESSION_COOKIE, await session_of(ctx, app))
            # Page 2 starts after the 50th name: no definition is removed, none filtered.
            page2 = f"/jobs?after={sorted(task_name(i) for i in range(tasks))[49]}"
            pages = {
                "overview /": "/",
                "jobs, first page": "/jobs",
                "jobs, tag=team-3": "/jobs?tag=team-3",
                "jobs, status=failing": "/jobs?status=failing",
                "jobs, kind=shell, enabled=no": "/jobs?kind=shell&enabled=no",
                "jobs, page 2 (keyset)": page2,
                "job detail /jobs/task-07": "/jobs/task-07",
            }
            if profile is not None:
                await profiled(client, profile, reps)
                return
            print("| page | p50 ms | p99 ms | CPU p50 ms |")
            print("|---|---|---|---|")
            for label, path in pages.items():
                response = await client.get(path)  # warm: templates, statements, caches
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
                times.clear()
                for _ in range(reps):
                    (await client.get(path)).raise_for_status()
                ms = [wall * 1000 for wall, _ in times]
                cpu = pct([c * 1000 for _, c in times], 50)
                print(
                    f"| {label} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} | {cpu:.1f} |", flush=True
                )
    finally:
        await store.close()


async def profiled(client: httpx.AsyncClient, path: str, reps: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        (await client.get(path)).raise_for_status()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", help="a PostgreSQL server to build on (default: SQLite)")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--rollup-runs", type=int, default=200_000)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--reuse", help="the URL of a database built by an earlier run: time only")
    p.add_argument("--profile", metavar="PATH", help="cProfile the requests of one page")
    args = p.parse_args()
    url = args.reuse
    if url is None:
        scratch = Path(tempfile.mkdtemp(prefix="tickwork-dashboard-"))
        backend = "sqlite" if args.pg_url is None else "postgres"
        url = fresh_url(backend, args.pg_url, scratch, "dashboard-lists", PG_DB)
        engine = sa.create_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        store = create_store(url)
        await store.open()
        print(f"# {backend}: building {url}", flush=True)
        try:
            await build(store, args.tasks, args.runs, args.rollup_runs)
        finally:
            await store.close()
    print(f"# {url}: {args.reps} requests per page")
    await measure(url, args.tasks, args.reps, args.profile)


if __name__ == "__main__":
    asyncio.run(main())
