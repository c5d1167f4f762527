"""tickwork benchmark: server time of the dashboard's overview, jobs list and job detail pages with
10,000 job definitions and 1M runs, p50/p99 per page, on SQLite or PostgreSQL.

    .venv/bin/python bench/bench_dashboard.py                      # SQLite file in a temp dir
    .venv/bin/python bench/bench_dashboard.py --pg-url postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python bench/bench_dashboard.py --runs 200000 --requests 100
    .venv/bin/python bench/bench_dashboard.py --database sqlite:////tmp/dash.db   # build, keep
    .venv/bin/python bench/bench_dashboard.py --database sqlite:////tmp/dash.db --reuse
    .venv/bin/python bench/bench_dashboard.py --database ... --reuse --pages job --requests 500

The data: ``--jobs`` HTTP job definitions (``task-0`` …, cron and interval schedules in a few
time zones, tags, one in 50 disabled) written by the use case (``Service.sync_definitions``);
``--runs`` finished jobs and runs of ``task-0`` … ``task-49`` over the 30 days before
2026-06-01, one in 53 failed, written in SQL by ``bench_failures.load``; the rollups of those
runs, read back and written by the completion path's writer (``rollups.upsert``, as
``bench_metrics`` does); 1,000 waiting jobs and 10 processors.

The server: the dashboard and API app as ``tickwork api`` builds it, served by uvicorn on
127.0.0.1 in a child process of this script, with its clock fixed at 2026-06-01 (the end of
the history, so "the last hour" and "the last 7 days" hold runs whenever the benchmark runs).
The client: one keep-alive httpx client in this process, logged in through the login form as an
admin, sends each page ``--requests`` times one after the other after ``--warmup`` requests;
the time is the client's, from request to the whole page read (loopback, ~1 ms of it HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from bench_api import free_port, fresh_url, pct, timed_gets
from bench_failures import NOW
from bench_failures import load as load_runs
from bench_metrics import finished

from tickwork.clock import FakeClock
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.accounts import Accounts
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore, create_store, rollups
from tickwork.store import migrate as migrations
from tickwork.store.schema import runs

PG_DB = "tickwork_bench_dashboard"
ADMIN, PASSWORD = "bench-admin", "correct horse battery"
DETAIL = "task-7"  # a job with its share of the runs (1M / 50) and their rollups
SCHEDULES = ("*/5 * * * *", "0 9 * * MON-FRI", "every 10m", "30 2 * * *", "@hourly", "every 1h")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
CHUNK = 50_000
PAGES = {"overview": "/", "jobs": "/jobs", "job": f"/jobs/{DETAIL}"}
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def definitions(n: int) -> list[TaskDefinition]:
    return [
        TaskDefinition(
            name=f"task-{i}",
            target=HttpTarget(url=f"https://hooks.example.com/{i}", method="POST"),
            schedule=SCHEDULES[i % len(SCHEDULES)],
            timezone=ZONES[i % len(ZONES)],
            enabled=i % 50 != 49,
            tags=(f"team-{i % 20}",),
            source=TaskSource.CONFIG,
        )
        for i in range(n)
    ]


def chunks_of_runs(store: SqlStore, n: int) -> Iterator[list[dict[str, Any]]]:
    """The runs table read back in chunks of ``CHUNK`` by ID, with aware times (each chunk
    read and its connection closed before the caller writes: SQLite has one writer)."""
    columns = (runs.c.task_name, runs.c.status, runs.c.started_at, runs.c.duration_seconds)
    for start in range(1, n + 1, CHUNK):
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns).where(runs.c.id.between(start, start + CHUNK - 1))
            ).mappings()
            out = []
            for row in rows:
                started = row["started_at"]
                if not isinstance(started, datetime):  # SQLite keeps epoch seconds
                    started = datetime.fromtimestamp(started, UTC)
                out.append({**row, "started_at": started})
        yield out


async def build(url: str, jobs: int, n: int) -> None:
    """The benchmark's database at ``url`` (empty, or a fresh PostgreSQL database)."""
    engine = create_store(url).engine
    migrations.upgrade(engine)
    engine.dispose()
    store = create_store(url)
    await store.open()
    try:
        ctx = Context(store, clock=FakeClock(NOW), resolve=None)
        began = time.perf_counter()
        await Service(ctx).sync_definitions(definitions(jobs), [TaskSource.CONFIG])
        print(f"  {jobs:,} definitions synced in {time.perf_counter() - began:.1f} s", flush=True)
        print(f"  {n:,} jobs and runs written in {load_runs(store, n):.1f} s", flush=True)
        began = time.perf_counter()
        for chunk in chunks_of_runs(store, n):
            with store.engine.begin() as conn:
                rollups.upsert(conn, store._backend, finished(chunk))
        print(f"  their rollups written in {time.perf_counter() - began:.1f} s", flush=True)
        pending = [
            NewJob(f"task-{i % 50}", NOW + timedelta(seconds=i - 500), TriggeredBy.API)
            for i in range(1000)
        ]
        with store.engine.begin() as conn:
            if store.dialect == "postgresql":  # the history's explicit IDs left these behind
                for table in ("tickwork_jobs", "tickwork_runs"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n + 1})"
                    )
        await store.enqueue(pending, NOW)
        for i in range(10):
            at = NOW - timedelta(seconds=i)
            await store.heartbeat(ProcessorInfo(f"p{i}", "worker", "bench", i, "v", at, at, None))
        await Accounts(ctx).create_user(ADMIN, Role.ADMIN, PASSWORD, actor=LOCAL)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        await store.close()


async def serve(url: str, port: int) -> None:
    """The child process: the app over ``url`` on ``port`` until SIGTERM."""
    from tickwork.api.deps import ApiContext
    from tickwork.api.server import ApiServer
    from tickwork.config.api import ApiSettings
    from tickwork.dashboard.app import create_app

    store = create_store(url)
    await store.open()
    core = Context(store, clock=FakeClock(NOW), resolve=None)
    ctx = ApiContext.build(core, ApiSettings(host="127.0.0.1", port=port, rate_limit=None))
    server = ApiServer(create_app(ctx), "127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop()
        await store.close()


@contextlib.contextmanager
def served(url: str, scratch: Path) -> Iterator[str]:
    port = free_port()
    log = (scratch / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                sys.exit(f"the server exited ({proc.returncode}); see {scratch / 'server.log'}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                sys.exit(f"the server did not answer in 60 s; see {scratch / 'server.log'}")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def logged_in(base: str) -> httpx.Client:
    """A client with an admin's session, got through the login form as a browser gets it. The
    session cookie is ``Secure``, which httpx keeps off plain HTTP: it is sent as a header."""
    client = httpx.Client(base_url=base, headers={"Origin": base}, timeout=60)
    form = client.get("/login")
    token = LOGIN_TOKEN.search(form.text)
    assert token, "no login form"
    answer = client.post(
        "/login",
        data={"login_token": token.group(1), "username": ADMIN, "password": PASSWORD},
        headers={"Cookie": f"tw_login={form.cookies['tw_login']}"},
    )
    if answer.status_code != 303:
        sys.exit(f"login refused ({answer.status_code}): {answer.text[:200]}")
    client.headers["Cookie"] = f"tw_session={answer.cookies['tw_session']}"
    return client


def measure(client: httpx.Client, path: str, requests: int, warmup: int) -> dict[str, Any]:
    times, response = timed_gets(client, path, requests, warmup)
    if "/login" in str(response.url):
        sys.exit("the session was lost")
    return {
        "path": path,
        "requests": requests,
        "kib": round(len(response.content) / 1024, 1),
        "p50_ms": round(pct(times, 50), 1),
        "p99_ms": round(pct(times, 99), 1),
        "max_ms": round(max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pg-url", help="a PostgreSQL server (the database is made on it)")
    parser.add_argument("--database", help="build into (or with --reuse, read) this URL")
    parser.add_argument("--reuse", action="store_true", help="--database is built: measure only")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port))
        return
    if args.reuse and not args.database:
        parser.error("--reuse needs --database")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        backend = "postgres" if args.pg_url else "sqlite"
        url = args.database or fresh_url(backend, args.pg_url, scratch, "dashboard", PG_DB)
        shown = sa.make_url(url).render_as_string(hide_password=True)
        if not args.reuse:
            print(f"building {shown}: {args.jobs:,} jobs, {args.runs:,} runs", flush=True)
            asyncio.run(build(url, args.jobs, args.runs))
        with served(url, scratch) as base, contextlib.closing(logged_in(base)) as client:
            for name in args.pages:
                path = PAGES[name]
                row = {"page": name, "database": shown}
                row.update(measure(client, path, args.requests, args.warmup))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
