"""tickwork benchmark: server time of the dashboard's overview, jobs list (filtered, paged) and
job page with 10,000 job definitions and 1M runs, p50/p99 per page, on SQLite or PostgreSQL.

    .venv/bin/python bench/bench_dashboard.py                       # SQLite file: build, time
    .venv/bin/python bench/bench_dashboard.py --pg-url postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/bench_dashboard.py --reuse URL --requests 100 [--pages / /jobs]
    .venv/bin/python bench/bench_dashboard.py --reuse URL --profile /jobs

The database: ``--tasks`` definitions (HTTP, shell and Python targets; cron and ``every``
schedules, one in ten on demand; one to three tags of 20; one in 25 disabled, one in 50 paused
with a reason), then ``--runs`` jobs with one run each over the 30 days before 2026-06-01
(``bench_failures.load``, one in 53 failed, so the latest run of some tasks failed), the
rollups of ``--rollup-runs`` synthetic runs over the same tasks (``bench_analytics.build``: the
overview's and the job page's figures come from rollups; 1M take ~10 minutes to build, so the
default is fewer), 1,000 waiting jobs and 10 processors. ``--reuse`` times an existing
database again (after ``tickwork db upgrade`` when the schema moved on).

The app is the one ``tickwork api`` serves (``dashboard.app.create_app``) with its clock at the
end of the history, called in-process through its ASGI interface on an event loop of its own
thread, by a client with an admin's session (``bench_api.timed_gets``: ``--warmup`` requests,
then ``--requests`` timed ones per page). The time of a request is measured around the app's
call, from the request to the response's last byte: server time, no network or client in it.
Beside it the process's CPU time meanwhile (every thread: the store's too), which other load
on the machine sways less than the wall time.

``--profile PATH``: cProfile over ``--requests`` requests of one page: the 25 functions with
the most time of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from bench_analytics import build as build_rollups
from bench_api import fresh_url, pct, timed_gets
from bench_failures import NOW
from bench_failures import load as load_history

from tickwork.api.deps import ApiContext
from tickwork.clock import FakeClock
from tickwork.config.api import ApiSettings
from tickwork.dashboard.app import create_app
from tickwork.dashboard.web import SESSION_COOKIE
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import (
    HttpTarget,
    PythonTarget,
    ShellTarget,
    Target,
    TaskDefinition,
    new_pause,
)
from tickwork.launcher import settle_heap
from tickwork.service.context import Context
from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations

PG_DB = "tickwork_bench_dashboard"
ADMIN = "bench-admin"
PASSWORD = "bench-password-1"
CRONS = ("*/5 * * * *", "0 * * * *", "30 9 * * 1-5", "15 2 * * *", "0 */6 * * *")
EVERY = ("every 30s", "every 5m", "every 1h30m")
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
WAITING = 1_000
PROCESSORS = 10
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")


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
    await queue_and_processors(store, runs)
    with store.engine.begin() as conn:  # committed: the planners keep these statistics
        conn.exec_driver_sql("ANALYZE")


async def queue_and_processors(store: SqlStore, runs: int) -> None:
    """``WAITING`` jobs due around ``NOW`` and ``PROCESSORS`` live processors (the overview's
    queue and processor cards)."""
    if store.dialect == "postgresql":  # the history's explicit IDs left the sequences behind
        with store.engine.begin() as conn:
            for table in ("tickwork_jobs", "tickwork_runs"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {runs + 1})"
                )
    waiting = [
        NewJob(task_name(i % 50), NOW + timedelta(seconds=i - WAITING // 2), TriggeredBy.API)
        for i in range(WAITING)
    ]
    await store.enqueue(waiting, NOW)
    for i in range(PROCESSORS):
        at = NOW - timedelta(seconds=i)
        await store.heartbeat(ProcessorInfo(f"p{i}", "worker", "bench", i, "v", at, at, None))


def timing(app: App, times: list[tuple[float, float]]) -> App:
    """``app``, each call's wall time and the process's CPU time meanwhile appended to
    ``times`` (seconds)."""

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        began, cpu = time.perf_counter(), time.process_time()
        await app(scope, receive, send)
        if scope["type"] == "http":
            times.append((time.perf_counter() - began, time.process_time() - cpu))

    return timed


class LoopTransport(httpx.BaseTransport):
    """A blocking client's requests handed to an ASGI app on an event loop in another thread
    (``timed_gets`` drives a blocking client; the app and its store live on that loop)."""

    def __init__(self, app: App, loop: asyncio.AbstractEventLoop) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            answer = await self._asgi.handle_async_request(request)
            body = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=body)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()


@contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop running in a thread of its own (the app's and its store's)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def session_of(ctx: ApiContext, app: Any) -> str:
    """An admin's session cookie (the user made if the database has none)."""
    if await ctx.accounts.store.get_user(ADMIN) is None:
        await ctx.accounts.create_user(ADMIN, Role.ADMIN, PASSWORD, actor=LOCAL)
    cookie, _ = await app.state.sessions.login(ADMIN, PASSWORD)
    return str(cookie)


def pages_of(tasks: int) -> dict[str, str]:
    # Page 2 starts after the 50th name: no definition is removed, none filtered.
    page2 = f"/jobs?after={sorted(task_name(i) for i in range(tasks))[49]}"
    return {
        "overview `/`": "/",
        "`/jobs`": "/jobs",
        "`/jobs?tag=team-3`": "/jobs?tag=team-3",
        "`/jobs?status=failing`": "/jobs?status=failing",
        "`/jobs?kind=shell&enabled=no`": "/jobs?kind=shell&enabled=no",
        "`/jobs?after=…` (page 2)": page2,
        "`/jobs/task-07`": "/jobs/task-07",
    }


def measure(
    url: str, tasks: int, requests: int, warmup: int, only: list[str] | None, profile: str | None
) -> None:
    times: list[tuple[float, float]] = []
    with event_loop() as loop:
        store = create_store(url)
        on(loop, store.open())
        try:
            core = Context(store, clock=FakeClock(NOW), resolve=None)
            ctx = ApiContext.build(core, ApiSettings(rate_limit=None), events=None)
            app = create_app(ctx)
            cookie = on(loop, session_of(ctx, app))
            settle_heap()  # as ``tickwork run`` and ``tickwork api`` do once started
            transport = LoopTransport(timing(app, times), loop)
            # The session cookie is sent as a header: httpx keeps a Secure one off plain HTTP.
            headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            with httpx.Client(
                transport=transport, base_url="http://127.0.0.1", headers=headers
            ) as client:
                if profile is not None:
                    profiled(client, loop, profile, requests)
                    return
                pages = pages_of(tasks)
                if only:
                    pages = {f"`{path}`": path for path in only}
                print("| page | p50 ms | p99 ms | max ms | CPU p50 ms | KiB |")
                print("|---|---|---|---|---|---|")
                for label, path in pages.items():
                    times.clear()
                    _, response = timed_gets(client, path, requests, warmup)
                    if "/login" in str(response.url) or "<h1>Sign in" in response.text:
                        raise SystemExit("the session was lost")
                    server = [wall * 1000 for wall, _ in times[warmup:]]
                    cpu = pct([c * 1000 for _, c in times[warmup:]], 50)
                    print(
                        f"| {label} | {pct(server, 50):.1f} | {pct(server, 99):.1f} | "
                        f"{max(server):.1f} | {cpu:.1f} | {len(response.content) / 1024:.0f} |",
                        flush=True,
                    )
        finally:
            on(loop, store.close())


def profiled(
    client: httpx.Client, loop: asyncio.AbstractEventLoop, path: str, requests: int
) -> None:
    """cProfile of the loop's thread, where the app runs (a store's calls in worker threads
    show as the wait for them)."""
    client.get(path).raise_for_status()
    profiler = cProfile.Profile()

    async def start() -> None:
        profiler.enable()

    async def stop() -> None:
        profiler.disable()

    on(loop, start())
    for _ in range(requests):
        client.get(path).raise_for_status()
    on(loop, stop())
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", help="a PostgreSQL server to build on (default: SQLite)")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--rollup-runs", type=int, default=200_000)
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--pages", nargs="+", metavar="PATH", help="time these paths only")
    p.add_argument("--reuse", help="the URL of a database built by an earlier run: time only")
    p.add_argument("--profile", metavar="PATH", help="cProfile the requests of one page")
    args = p.parse_args()
    url = args.reuse
    if url is None:
        scratch = Path(tempfile.mkdtemp(prefix="tickwork-dashboard-"))
        backend = "sqlite" if args.pg_url is None else "postgres"
        url = fresh_url(backend, args.pg_url, scratch, "dashboard", PG_DB)
        engine = sa.create_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        print(f"# {backend}: building {url}", flush=True)
        asyncio.run(built(url, args.tasks, args.runs, args.rollup_runs))
    print(f"# {url}: {args.requests} requests per page after {args.warmup}")
    measure(url, args.tasks, args.requests, args.warmup, args.pages, args.profile)


async def built(url: str, tasks: int, runs: int, rollup_runs: int) -> None:
    store = create_store(url)
    await store.open()
    try:
        await build(store, tasks, runs, rollup_runs)
    finally:
        await store.close()


if __name__ == "__main__":
    main()
