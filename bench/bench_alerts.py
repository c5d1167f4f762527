"""tickwork benchmark: alert evaluation with 10,000 rules and 10,000 heartbeat checks, and the
latency of an alert from a failing run's end to a webhook receiver.

    .venv/bin/python bench/bench_alerts.py --pg-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_alerts.py --backends sqlite --sizes 1000,10000 --alerts 0
    .venv/bin/python bench/bench_alerts.py --backends postgres --pg-url ... --ticks 50

**Evaluation.** For each size N (rules) and backend, a fresh database (a SQLite file, or the
database ``tickwork_bench_alerts`` made afresh on the server of ``--pg-url``) gets N/4 tasks
(half of them on a daily schedule, 1 % overdue), 12 finished runs per task over the last 12
hours (8 % failed; every 50th task's newest three failed, every 97th task's newest run took
15 minutes), N heartbeat checks (hourly, 10 minutes' grace; every 100th silent for two hours:
down) and three processors (one silent for five minutes). The rules: per task a
``consecutive_failures`` (3), a ``failure_window`` (5 of 10), a ``long_run`` (10 minutes, or
p95 × 3 on odd tasks) and a ``missed_fire`` (5 minutes' grace): N in all; besides them
``backlog_age``, ``processor_down``, a global ``check_down`` (every check) and one per check
tag (20). The evaluator (``runtime.evaluator.Evaluator``, as a scheduler process runs it)
evaluates once cold (every firing subject is a new transition with its delivery job) and then
``--ticks`` times with nothing new. Per tick: wall time, this process's CPU time (the
evaluator and the store's threads; PostgreSQL's own CPU is not in it) and the statements sent,
counted by SQLAlchemy's ``before_cursor_execute`` event on the store's engine.

**Latency.** On the largest size's database, ``tickwork run --no-api`` is started as its own
process with the same rules in its tickwork.toml (``--latency-rules one``: none of them) plus
``consecutive_failures`` (1) on the tag ``latency`` and a generic webhook channel to a real
HTTP server on 127.0.0.1 in this process.
``--alerts`` tasks ``fail-NNN`` (each a new subject, so each failure is a new transition) are
enqueued ``--spacing`` seconds apart by a producer; each fails at once. Latency = the
receiver's arrival time − the run's ``finished_at`` as the worker recorded it (one clock: one
machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_api import finished_pair, fresh_url, migrated_store, pct

from tickwork.config.alerts import AlertSettings, alerts_from_table
from tickwork.domain.checks import Check, CheckSource, PingKind
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.runtime.evaluator import Evaluator
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore
from tickwork.store.checks import check_values
from tickwork.store.schema import jobs, runs
from tickwork.store.schema_alerting import checks

HERE = Path(__file__).resolve().parent
TICKWORK = str(Path(sys.executable).parent / "tickwork")
PG_DB = "tickwork_bench_alerts"
RUNS_PER_TASK = 12
TAGS = 20
SECRET = "bench-webhook-secret"
FAIL_TAG = "latency"


def task_name(i: int) -> str:
    return f"job-{i:05d}"


def rule_tables(n: int) -> list[dict[str, Any]]:
    """N per-task rules (four per task) and the global ones."""
    found: list[dict[str, Any]] = []
    for i in range(n // 4):
        name = task_name(i)
        slow: dict[str, Any] = {"p95_factor": 3.0} if i % 2 else {"max": "10m"}
        found += [
            {"name": f"{name}-failing", "kind": "consecutive_failures", "count": 3},
            {"name": f"{name}-window", "kind": "failure_window", "failures": 5, "runs": 10},
            {"name": f"{name}-slow", "kind": "long_run", **slow},
            {"name": f"{name}-missed", "kind": "missed_fire", "grace": "5m"},
        ]
        for rule in found[-4:]:
            rule["task"] = name
    found += [
        {"name": "backlog", "kind": "backlog_age", "max_age": "10m"},
        {"name": "processors", "kind": "processor_down", "after": "60s"},
        {"name": "checks", "kind": "check_down"},
    ]
    found += [
        {"name": f"checks-team-{t}", "kind": "check_down", "tag": f"team-{t}"} for t in range(TAGS)
    ]
    return found


def alert_table(rules: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {
        "rules": rules,
        "channels_default": ["hook"],
        "channels": {"hook": {"type": "webhook", "url": url, "secret": SECRET}},
    }


# --- the database ------------------------------------------------------------------------------
def history(n_tasks: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(13)
    job_rows: list[dict[str, Any]] = []
    run_rows: list[dict[str, Any]] = []
    for i in range(n_tasks):
        for k in range(RUNS_PER_TASK):  # k = 0: the oldest
            newest = RUNS_PER_TASK - 1 - k
            began = now - timedelta(hours=newest + 1, seconds=rng.uniform(0, 600))
            took = 900.0 if i % 97 == 0 and newest == 0 else rng.uniform(1, 60)
            failed = (i % 50 == 0 and newest < 3) or rng.random() < 0.08
            ident = len(job_rows) + 1
            error = ("RuntimeError", f"order {ident} failed") if failed else None
            job, run = finished_pair(ident, task_name(i), began, took, error, worker="bench")
            job_rows.append(job)
            run_rows.append(run)
    return job_rows, run_rows


def check_rows(n: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(17)
    rows = []
    for i in range(n):
        silent = 7200.0 if i % 100 == 0 else rng.uniform(0, 3600)
        check = Check(
            uuid=f"00000000-0000-4000-8000-{i:012d}",
            name=f"check-{i:05d}",
            period_seconds=3600.0,
            cron=None,
            timezone="UTC",
            grace_seconds=600.0,
            description="",
            tags=(f"team-{i % TAGS}",),
            source=CheckSource.API,
            created_at=now - timedelta(days=1),
            last_ping_at=now - timedelta(seconds=silent),
            last_ping_kind=PingKind.SUCCESS,
            last_outcome=PingKind.SUCCESS,
            last_outcome_at=now - timedelta(seconds=silent),
            pings=1,
        )
        rows.append(check_values(check))
    return rows


async def build(store: SqlStore, n: int, now: datetime) -> float:
    began = time.perf_counter()
    n_tasks = n // 4
    tomorrow = now + timedelta(days=1)
    defs = [
        TaskDefinition(
            name=task_name(i),
            target=PythonTarget("alert_tasks:noop"),
            schedule="0 3 * * *" if i % 2 else None,
            tags=(f"team-{i % TAGS}",),
            source=TaskSource.API,
        )
        for i in range(n_tasks)
    ]
    overdue = now - timedelta(minutes=10)
    fires = {
        d.name: overdue if i % 100 == 1 else tomorrow for i, d in enumerate(defs) if d.schedule
    }
    await store.add_missing_tasks(defs, dict(fires), now)
    job_rows, run_rows = history(n_tasks, now)
    with store.engine.begin() as conn:
        for table, rows in ((jobs, job_rows), (runs, run_rows), (checks, check_rows(n, now))):
            for start in range(0, len(rows), 5_000):
                conn.execute(table.insert(), rows[start : start + 5_000])
        if store.dialect == "postgresql":  # the IDs were given: move the sequences past them
            for table in ("tickwork_jobs", "tickwork_runs"):
                n = len(job_rows) + 1
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
    for k, silent in enumerate((5.0, 5.0, 300.0)):
        at = now - timedelta(seconds=silent)
        await store.heartbeat(
            ProcessorInfo(f"bench-{k}", "scheduler", "bench", 1000 + k, "0", at, at, None)
        )
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


# --- evaluation --------------------------------------------------------------------------------
async def evaluation(store: SqlStore, settings: AlertSettings, ticks: int) -> dict[str, Any]:
    sent = [0]

    def count(*_: Any) -> None:
        sent[0] += 1

    sa.event.listen(store.engine, "before_cursor_execute", count)
    evaluator = Evaluator(store, settings)
    rows: list[tuple[float, float, int, int]] = []
    try:
        for _ in range(ticks + 1):
            before, cpu, wall = sent[0], time.process_time(), time.perf_counter()
            done = await evaluator.evaluate()
            wall = time.perf_counter() - wall
            rows.append((wall, time.process_time() - cpu, sent[0] - before, done.stored))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    cold, steady = rows[0], rows[1:]
    assert evaluator.last is not None
    return {
        "subjects": evaluator.last.subjects,
        "cold_s": cold[0],
        "cold_cpu_s": cold[1],
        "cold_statements": cold[2],
        "cold_transitions": cold[3],
        "p50_s": pct([r[0] for r in steady], 50),
        "p99_s": pct([r[0] for r in steady], 99),
        "cpu_s": sum(r[1] for r in steady) / len(steady),
        "statements": sorted(r[2] for r in steady)[len(steady) // 2],
        "statements_max": max(r[2] for r in steady),
        "transitions": sum(r[3] for r in steady),
    }


# --- latency -----------------------------------------------------------------------------------
@contextmanager
def receiver() -> Iterator[tuple[str, dict[str, float]]]:
    """A webhook receiver on 127.0.0.1: the arrival time of the first alert of each subject."""
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()
            document = json.loads(body)
            if document.get("kind") == "firing":
                with lock:
                    arrived.setdefault(document["subject"], at)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrived
    finally:
        server.shutdown()
        server.server_close()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def config_text(url: str, hook: str, rules: list[dict[str, Any]], fails: int) -> str:
    lines = [
        "[tickwork]",
        f"database_url = {toml_value(url)}",
        'poll_interval = "1s"',
        'log_level = "WARNING"',
        "max_concurrent_jobs = 20",
        "",
    ]
    for i in range(fails + 1):
        lines += [
            "[[jobs]]",
            f'name = "fail-{i:03d}"',
            'task = "alert_tasks:fail"',
            "max_retries = 0",
            f"tags = [{toml_value(FAIL_TAG)}]",
            "",
        ]
    lines += ["[alerts]", 'channels_default = ["hook"]', ""]
    lines += ["[alerts.channels.hook]", 'type = "webhook"', f"url = {toml_value(hook)}"]
    lines += [f"secret = {toml_value(SECRET)}", ""]
    own = {"name": "latency-failing", "kind": "consecutive_failures", "count": 1, "tag": FAIL_TAG}
    for rule in [*rules, own]:
        lines.append("[[alerts.rules]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in rule.items()]
        lines.append("")
    return "\n".join(lines)


async def wait_until(what: str, deadline: float, test: Any, proc: subprocess.Popen[bytes]) -> None:
    limit = time.monotonic() + deadline
    while not await test():
        if proc.poll() is not None:
            raise RuntimeError(f"tickwork run exited ({proc.returncode}) before {what}")
        if time.monotonic() > limit:
            raise RuntimeError(f"no {what} within {deadline:.0f} s")
        await asyncio.sleep(0.1)


async def latency(
    store: SqlStore, url: str, rules: list[dict[str, Any]], n: int, spacing: float, scratch: Path
) -> dict[str, Any]:
    with store.engine.begin() as conn:  # the cold tick's deliveries went to a closed port
        conn.execute(jobs.delete().where(jobs.c.task_name == "tickwork.notify"))
    with receiver() as (hook, arrived):
        config = scratch / "tickwork.toml"
        config.write_text(config_text(url, hook, rules, n))
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        with open(scratch / "run.log", "wb") as log:
            proc = subprocess.Popen(
                [TICKWORK, "run", "--config", str(config), "--no-api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(Context(store))
        try:

            async def first_alert() -> bool:
                return "task:fail-000" in arrived

            # Warm-up: the process is up, evaluating, and delivering.
            await wait_until("process", 120, lambda: _task(store, "fail-000"), proc)
            await service.enqueue(EnqueueRequest("fail-000"))
            await wait_until("first alert", 180, first_alert, proc)
            began = time.monotonic()
            for i in range(1, n + 1):
                await service.enqueue(EnqueueRequest(f"fail-{i:03d}"))
                await asyncio.sleep(spacing)

            async def all_alerts() -> bool:
                return all(f"task:fail-{i:03d}" in arrived for i in range(1, n + 1))

            await wait_until("alerts", 120 + n * spacing, all_alerts, proc)
            elapsed = time.monotonic() - began
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    ended = _run_ends(store)
    values = [arrived[f"task:fail-{i:03d}"] - ended[f"fail-{i:03d}"] for i in range(1, n + 1)]
    return {
        "n": n,
        "p50_s": pct(values, 50),
        "p99_s": pct(values, 99),
        "max_s": max(values),
        "elapsed_s": elapsed,
    }


async def _task(store: SqlStore, name: str) -> bool:
    return await store.get_task(name) is not None and bool(await store.list_processors())


def _run_ends(store: SqlStore) -> Mapping[str, float]:
    r = runs.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(r.task_name, sa.func.max(r.finished_at))
            .where(r.task_name.like("fail-%"))
            .group_by(r.task_name)
        )
        return {name: at.timestamp() for name, at in rows}


# --- main --------------------------------------------------------------------------------------
async def bench(backend: str, args: argparse.Namespace, scratch: Path) -> None:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    for size in sizes:
        url = fresh_url(backend, args.pg_url, scratch, f"alerts-{size}", PG_DB)
        store = await migrated_store(url)
        try:
            now = datetime.now(UTC)
            built = await build(store, size, now)
            rules = rule_tables(size)
            settings = alerts_from_table(alert_table(rules, "http://127.0.0.1:9/hook"), {})
            print(
                f"{backend} {size:,}: {len(rules):,} rules, {size // 4:,} tasks,"
                f" {size // 4 * RUNS_PER_TASK:,} runs, {size:,} checks written in {built:.1f} s",
                flush=True,
            )
            got = await evaluation(store, settings, args.ticks)
            print(
                f"  {got['subjects']:,} rule x subject pairs; cold tick {got['cold_s']:.2f} s"
                f" (CPU {got['cold_cpu_s']:.2f} s, {got['cold_statements']:,} statements,"
                f" {got['cold_transitions']:,} transitions written)\n"
                f"  steady tick: p50 {got['p50_s'] * 1000:.0f} ms,"
                f" p99 {got['p99_s'] * 1000:.0f} ms,"
                f" CPU {got['cpu_s'] * 1000:.0f} ms, {got['statements']} statements"
                f" (max {got['statements_max']}; {got['transitions']} transitions written"
                f" in {args.ticks} ticks)",
                flush=True,
            )
            if size == sizes[-1] and args.alerts:
                watched = rules if args.latency_rules == "all" else []
                lat = await latency(store, url, watched, args.alerts, args.spacing, scratch)
                print(
                    f"  alert latency ({len(watched) + 1:,} rules in the process),"
                    f" run end -> receiver, {lat['n']} alerts"
                    f" {args.spacing} s apart: p50 {lat['p50_s'] * 1000:.0f} ms,"
                    f" p99 {lat['p99_s'] * 1000:.0f} ms, max {lat['max_s'] * 1000:.0f} ms",
                    flush=True,
                )
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="10000", help="rules (and checks), comma-separated")
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=60, help="0: no latency run")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between failures")
    parser.add_argument(
        "--latency-rules",
        choices=("all", "one"),
        default="all",
        help="the latency run's process: every rule of the size, or only the timed one",
    )
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for backend in args.backends.split(","):
            asyncio.run(bench(backend, args, Path(scratch)))
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
