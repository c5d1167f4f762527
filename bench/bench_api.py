"""tickwork API benchmark: latency of run listings over 100,000 runs.

    .venv/bin/python bench/bench_api.py                                  # SQLite file
    .venv/bin/python bench/bench_api.py --pg-url postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/bench_api.py --pg-url ... --backends postgres --requests 500

For each backend: 100,000 runs (and their jobs) over 50 tasks are written with bulk inserts,
`tickwork api` is started as its own process (uvicorn, as users run it; rate limit off), and one
keep-alive httpx client, authenticated with an admin token, sends each request ~2,000 times
after a warm-up, one at a time:

- `GET /api/runs?limit=50`: the newest page;
- `GET /api/runs?job=<task>&limit=50`: the newest page of one task (2 % of the runs);
- `GET /api/runs?limit=50&cursor=<id>`: a page 90 % deep, through the keyset cursor.

Prints a table and writes JSON to bench/results/bench-api-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tickwork.domain.access import LOCAL, Role, Scope
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.accounts import Accounts
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore, create_store, latest
from tickwork.store import migrate as migrations
from tickwork.store.schema import jobs, runs

HERE = Path(__file__).resolve().parent
TICKWORK = str(Path(sys.executable).parent / "tickwork")  # the virtualenv's command
TASKS = 50
CHUNK = 5_000
PG_DB = "tickwork_bench_api"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fresh_url(
    backend: str, pg_url: str | None, scratch: Path, name: str = "api", pg_db: str = PG_DB
) -> str:
    """An empty database for one benchmark: a SQLite file in ``scratch``, or ``pg_db`` created
    afresh on the server of ``pg_url``."""
    if backend == "sqlite":
        return f"sqlite:///{scratch / f'bench-{name}.db'}"
    assert pg_url is not None
    base = sa.make_url(pg_url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{pg_db}"')
    admin.dispose()
    return base.set(database=pg_db).render_as_string(hide_password=False)


def task_name(i: int) -> str:
    return f"task-{i:02d}"


def finished_pair(
    ident: int,
    name: str,
    began: datetime,
    took: float,
    error: tuple[str, str] | None = None,
    worker: str = "bench-worker",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished job's row and its one run's row (same ID); ``error``: (type, message) when
    it failed."""
    ended = began + timedelta(seconds=took)
    status = "failed" if error else "succeeded"
    common = {"id": ident, "task_name": name, "started_at": began, "finished_at": ended}
    job = common | {
        "state": status,
        "args": [],
        "kwargs": {},
        "priority": 0,
        "scheduled_at": began,
        "attempt": 1,
        "max_attempts": 1,
        "triggered_by": "scheduler",
        "created_at": began,
        "worker_id": worker,
        "last_error": error[1] if error else None,
    }
    run = common | {
        "job_id": ident,
        "attempt": 1,
        "status": status,
        "triggered_by": "scheduler",
        "duration_seconds": took,
        "worker_id": worker,
        "error_type": error[0] if error else None,
        "error_message": error[1] if error else None,
    }
    return job, run


def rows(n: int, start: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` finished jobs, one run each, a few seconds apart, spread over the tasks; 10 %
    failed. Job ``i`` and run ``i`` belong together."""
    rng = random.Random(7)
    job_rows, run_rows = [], []
    for i in range(1, n + 1):
        name = task_name(rng.randrange(TASKS))
        failed = rng.random() < 0.1
        error = ("HTTPStatusError", "HTTP 500 from https://example.com/hook") if failed else None
        job, run = finished_pair(
            i, name, start + timedelta(seconds=i * 3), rng.uniform(0.01, 2), error
        )
        job_rows.append(job)
        run_rows.append(
            run
            | {
                "error_class": "server_error" if failed else None,
                "output": '{"ok": true}' if not failed else None,
                "result": None,
            }
        )
    return job_rows, run_rows


async def migrated_store(url: str) -> SqlStore:
    """An open store on ``url``, its schema migrated to the newest revision first."""
    store = create_store(url)
    migrations.upgrade(store.engine)
    await store.open()
    return store


async def load(url: str, n: int) -> tuple[str, float]:
    """Migrate, define the tasks, bulk-insert ``n`` jobs and runs; an admin token.
    Returns the token and the seconds the inserts took."""
    store = await migrated_store(url)
    definitions = [
        TaskDefinition(
            name=task_name(i),
            target=HttpTarget(url=f"https://example.com/hooks/{i}"),
            schedule="*/5 * * * *",
        )
        for i in range(TASKS)
    ]
    await Service(Context(store, resolve=None)).sync_definitions(definitions, [TaskSource.CONFIG])
    job_rows, run_rows = rows(n, datetime.now(UTC) - timedelta(seconds=n * 3 + 60))
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        for i in range(0, n, CHUNK):
            conn.execute(jobs.insert(), job_rows[i : i + CHUNK])
            conn.execute(runs.insert(), run_rows[i : i + CHUNK])
        latest.rebuild(conn)  # each task's latest run, as completions would have kept it
        if store.dialect == "postgresql":
            # Explicit ids leave the sequences behind; later inserts must not collide.
            for table in ("tickwork_jobs", "tickwork_runs"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    inserted = time.perf_counter() - t0
    accounts = Accounts(Context(store))
    await accounts.create_user("bench", Role.ADMIN, None, actor=LOCAL)
    _, secret = await accounts.create_token(
        "bench", "bench", frozenset({Scope.ADMIN}), None, actor=LOCAL
    )
    await store.close()
    return secret, inserted


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_api(url: str, scratch: Path, port: int) -> subprocess.Popen[bytes]:
    config = scratch / "tickwork.toml"
    config.write_text(
        f'[tickwork]\ndatabase_url = "{url}"\nlog_level = "WARNING"\n\n[api]\nrate_limit = "off"\n'
    )
    log = (scratch / "api.log").open("ab")
    return subprocess.Popen(
        [TICKWORK, "api", "--config", str(config), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ},
    )


def stop_api(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes], scratch: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"tickwork api exited ({proc.returncode}); see {scratch / 'api.log'}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"tickwork api did not answer within 30 s; see {scratch / 'api.log'}")


def timed_gets(
    client: httpx.Client, path: str, requests: int, warmup: int
) -> tuple[list[float], httpx.Response]:
    """``requests`` GETs of ``path`` after ``warmup`` untimed ones: each one's ms to the last
    byte, and the last response (every one checked for an error status)."""
    for _ in range(warmup):
        client.get(path).raise_for_status()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    return times, response


def measure(client: httpx.Client, path: str, requests: int, warmup: int) -> dict[str, Any]:
    times, response = timed_gets(client, path, requests, warmup)
    items = len(response.json()["items"])
    return {
        "path": path,
        "requests": requests,
        "items": items,
        "p50_ms": round(pct(times, 50), 2),
        "p99_ms": round(pct(times, 99), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "req_per_s": round(requests / (sum(times) / 1000)),
    }


def run_backend(backend: str, args: argparse.Namespace, scratch: Path) -> list[dict[str, Any]]:
    url = fresh_url(backend, args.pg_url, scratch)
    secret, inserted = asyncio.run(load(url, args.runs))
    print(f"{backend}: {args.runs:,} runs and jobs inserted in {inserted:.1f}s", flush=True)
    port = free_port()
    proc = start_api(url, scratch, port)
    results = []
    try:
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            wait_ready(client, proc, scratch)
            deep_cursor = args.runs - int(args.runs * 0.9)  # runs are newest first by id here
            paths = {
                "newest page": "/api/runs?limit=50",
                "one job": f"/api/runs?job={task_name(7)}&limit=50",
                "deep cursor": f"/api/runs?limit=50&cursor={deep_cursor}",
            }
            for name, path in paths.items():
                row = {"backend": backend, "query": name, "runs": args.runs}
                row.update(measure(client, path, args.requests, args.warmup))
                print(json.dumps(row), flush=True)
                results.append(row)
    finally:
        stop_api(proc)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", help="PostgreSQL server URL (a database is created on it)")
    p.add_argument("--backends", help="sqlite,postgres (default: sqlite, + postgres with --pg-url)")
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=2_000)
    p.add_argument("--warmup", type=int, default=200)
    args = p.parse_args()
    backends = (args.backends or ("sqlite,postgres" if args.pg_url else "sqlite")).split(",")
    if "postgres" in backends and not args.pg_url:
        p.error("postgres needs --pg-url")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-api-") as tmp:
        for backend in backends:
            results.extend(run_backend(backend, args, Path(tmp)))
    print()
    print("| backend | query | p50 ms | p99 ms | mean ms | req/s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['backend']} | {r['query']} | {r['p50_ms']} | {r['p99_ms']} | {r['mean_ms']}"
            f" | {r['req_per_s']} |"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-api-{int(time.time())}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
