"""Chaos run on PostgreSQL: workers killed and restarted, connections terminated, nothing lost.

    .venv/bin/python scripts/chaos_pg.py                       # 3 minutes, 3 workers
    .venv/bin/python scripts/chaos_pg.py --minutes 10 --workers 4 --rate 100 --seed 7

On a fresh database (created next to --url's database, dropped afterwards unless --keep-db):
N worker processes and 2 scheduler processes (bench/worker_proc.py), a steady enqueue stream
(jobs of 10 ms to 6 s, some longer than the lease) and an every-second schedule. Every few
seconds one of: SIGKILL a worker (restarted a moment later), SIGTERM a worker (it must exit 0;
restarted), or pg_terminate_backend of every connection to the database. Then the chaos stops,
the queue drains and the run is checked:

- lost: acknowledged enqueues with no job, and jobs that did not end ``succeeded``;
- duplicates: jobs with two overlapping run records, and jobs whose body completed twice;
- the schedule: one job per fire time and no gap between fire times.

Exit status 1 if anything was lost or duplicated, or a SIGTERM'd worker exited non-zero.
Enqueues use a unique key per job, so an enqueue retried after a lost reply never makes two jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cluster import (  # noqa: E402
    Cluster,
    Proc,
    executions,
    fire_gaps,
    overlapping_runs,
    read_log,
    setup,
    wait_for,
)

from tickwork.domain.tasks import PythonTarget, RetryPolicy, TaskDefinition  # noqa: E402
from tickwork.errors import TickworkError  # noqa: E402
from tickwork.service.context import Context  # noqa: E402
from tickwork.service.facade import Service  # noqa: E402
from tickwork.service.jobs import EnqueueRequest  # noqa: E402
from tickwork.store import create_store  # noqa: E402
from tickwork.store import migrate as migrations  # noqa: E402

LEASE = 4.0
SHUTDOWN_TIMEOUT = 2.0


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


def fresh_database(base_url: str) -> tuple[str, str]:
    name = f"tickwork_chaos_{int(time.time())}"
    with admin_engine(base_url).connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    store = create_store(url)
    migrations.upgrade(store.engine)
    store.engine.dispose()
    return name, url


def job_seconds(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.80:
        return round(rng.uniform(0.01, 0.1), 3)
    if r < 0.95:
        return round(rng.uniform(0.5, 1.5), 3)
    return round(rng.uniform(3.0, 6.0), 3)  # longer than the lease: needs extensions


class Enqueuer(threading.Thread):
    """Enqueues ``rate`` jobs a second in batches every 100 ms; retries a failed batch."""

    def __init__(self, url: str, rate: float, seed: int) -> None:
        super().__init__(name="enqueuer", daemon=True)
        self.url = url
        self.rate = rate
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.acknowledged: set[str] = set()
        self.attempted: set[str] = set()
        self.errors = 0
        self.next_tag = 0

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        store = create_store(self.url)
        await store.open()
        service = Service(Context(store, resolve=None))
        per_tick = self.rate / 10
        owed = 0.0
        next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                owed += per_tick
                n, owed = int(owed), owed - int(owed)
                batch = [f"j{self.next_tag + i}" for i in range(n)]
                self.next_tag += n
                requests = [
                    EnqueueRequest(
                        "work",
                        args=(tag, job_seconds(self.rng)),
                        unique_key=tag,
                        unique_for_seconds=86400,
                    )
                    for tag in batch
                ]
                self.attempted.update(batch)
                for attempt in range(30):
                    if not requests:
                        break
                    try:
                        await service.enqueue_many(requests)
                    except TickworkError:
                        self.errors += 1
                        await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
                        continue
                    self.acknowledged.update(batch)
                    break
                next_at += 0.1
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await store.close()


class Chaos:
    def __init__(self, cluster: Cluster, workers: int, seed: int) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.n_workers = workers
        self.workers: list[Proc] = []
        self.schedulers: list[Proc] = []
        self.actions: Counter[str] = Counter()
        self.bad_exits: list[tuple[str, int | None]] = []
        self.pending_restarts: list[tuple[float, int]] = []  # (when, slot)
        self.killed_at: dict[int, float] = {}  # pid -> time.time() of its SIGKILL

    def worker_args(self) -> list[str]:
        return [
            "--concurrency",
            "20",
            "--batch",
            "20",
            "--lease",
            str(LEASE),
            "--shutdown-timeout",
            str(SHUTDOWN_TIMEOUT),
            "--poll-interval",
            "0.2",
        ]

    def start(self) -> None:
        self.workers = [self.cluster.start("w", *self.worker_args()) for _ in range(self.n_workers)]
        self.schedulers = [
            self.cluster.start("s", "--poll-interval", "0.2", roles="scheduler") for _ in range(2)
        ]
        self.cluster.wait_started(self.workers + self.schedulers, timeout=60)

    def restart_due(self, now: float) -> None:
        due = [r for r in self.pending_restarts if r[0] <= now]
        self.pending_restarts = [r for r in self.pending_restarts if r[0] > now]
        for _, slot in due:
            self.workers[slot] = self.cluster.start("w", *self.worker_args())
            self.actions["restart"] += 1

    def step(self) -> None:
        alive = [i for i, p in enumerate(self.workers) if p.alive()]
        action = self.rng.choices(["kill", "term", "pg_terminate"], weights=[4, 3, 2])[0]
        if action in ("kill", "term") and alive:
            slot = self.rng.choice(alive)
            proc = self.workers[slot]
            if action == "kill":
                self.killed_at[proc.pid] = time.time()
                self.cluster.kill(proc)
                log(f"SIGKILL {proc.processor_id}")
            else:
                status = self.cluster.stop(proc, timeout=SHUTDOWN_TIMEOUT + 20)
                log(f"SIGTERM {proc.processor_id}: exit {status}")
                if status != 0:
                    self.bad_exits.append((proc.processor_id, status))
            self.actions[action] += 1
            self.pending_restarts.append((time.monotonic() + self.rng.uniform(0.0, 3.0), slot))
        else:
            n = self.cluster.terminate_backends()
            self.actions["pg_terminate"] += 1
            log(f"pg_terminate_backend: {n} connections")

    def check_alive(self) -> None:
        """A process that died on its own (not by our hand) is a finding: record and restart."""
        for group in (self.workers, self.schedulers):
            for i, p in enumerate(group):
                restarting = group is self.workers and any(s == i for _, s in self.pending_restarts)
                if not p.alive() and not restarting:
                    self.bad_exits.append((p.processor_id, p.popen.returncode))
                    log(f"{p.processor_id} died by itself (exit {p.popen.returncode})")
                    group[i] = self.cluster.start(
                        p.name,
                        *(
                            self.worker_args()
                            if group is self.workers
                            else ["--poll-interval", "0.2"]
                        ),
                        roles="worker" if group is self.workers else "scheduler",
                    )


def report(cluster: Cluster, enq: Enqueuer, chaos: Chaos, seconds: float) -> dict[str, Any]:
    jobs = cluster.query(
        "SELECT id, args->>0 AS tag, state, attempt FROM tickwork_jobs WHERE task_name = 'work'"
    )
    by_tag: dict[str, list[Any]] = {}
    for j in jobs:
        by_tag.setdefault(j.tag, []).append(j)
    states = Counter(j.state for j in jobs)
    missing = sorted(enq.acknowledged - by_tag.keys())
    doubled_jobs = {t: len(js) for t, js in by_tag.items() if len(js) > 1}
    runs = cluster.runs()
    overlaps = overlapping_runs(runs)
    done = executions(cluster.out)
    bodies: dict[str, list[tuple[float, float, int]]] = {}
    for tag, start, end, pid in read_log(cluster.out):
        if tag != "tick":
            bodies.setdefault(tag, []).append((start, end, pid))
    # A body that completed twice: overlapping executions are duplicates; one after the other,
    # where the first one's process was SIGKILLed after the body ended (before its result was
    # written), is the at-least-once re-run after a crash.
    overlapping_bodies, rerun_after_kill, ran_twice = [], [], []
    for tag, spans in bodies.items():
        if len(spans) < 2:
            continue
        spans.sort()
        if any(b[0] < a[1] for a, b in itertools.pairwise(spans)):
            overlapping_bodies.append(tag)
        elif all(a[2] in chaos.killed_at and chaos.killed_at[a[2]] >= a[1] for a in spans[:-1]):
            rerun_after_kill.append(tag)
        else:
            ran_twice.append(tag)
    never_ran = [t for t, js in by_tag.items() if js[0].state == "succeeded" and t not in done]
    run_status = Counter(r.status for r in runs)
    interrupted = Counter(
        (r.error_message or "").split(":")[0] for r in runs if r.status == "interrupted"
    )
    ticks = cluster.query(
        "SELECT fire_at, count(*) AS n, min(state) AS state FROM tickwork_jobs"
        " WHERE task_name = 'tick' GROUP BY fire_at ORDER BY fire_at"
    )
    return {
        "seconds": round(seconds),
        "actions": dict(chaos.actions),
        "enqueued_acknowledged": len(enq.acknowledged),
        "enqueue_attempted": len(enq.attempted),
        "enqueue_errors_retried": enq.errors,
        "jobs": len(jobs),
        "succeeded": states.get("succeeded", 0),
        "other_states": {s: n for s, n in states.items() if s != "succeeded"},
        "lost_acknowledged_without_job": len(missing),
        "two_jobs_for_one_enqueue": len(doubled_jobs),
        "duplicates_overlapping_runs": len(overlaps),
        "bodies_overlapping": len(overlapping_bodies),
        "bodies_rerun_after_sigkill_before_result_written": len(rerun_after_kill),
        "bodies_completed_twice_otherwise": len(ran_twice),
        "succeeded_without_a_completed_body": len(never_ran),
        "runs_by_status": dict(run_status),
        "interrupted_by_reason": dict(interrupted),
        "retried_jobs": sum(1 for j in jobs if j.attempt > 1),
        "tick_fires": len(ticks),
        "tick_fire_gaps": len(fire_gaps([t.fire_at for t in ticks])),
        "tick_states": dict(Counter(t.state for t in ticks)),
        "tick_fires_with_two_jobs": sum(1 for t in ticks if t.n > 1),
        # "tick" has no retries: a tick whose worker was SIGKILLed fails when its lease expires.
        "tick_not_succeeded_reasons": dict(
            Counter(
                (r.last_error or "").split(":")[0]
                for r in cluster.query(
                    "SELECT last_error FROM tickwork_jobs WHERE task_name = 'tick'"
                    " AND state IN ('failed', 'timeout', 'cancelled')"
                )
            )
        ),
        "bad_exits": chaos.bad_exits,
        "examples": {
            "missing": missing[:5],
            "not_succeeded": [t for t, js in by_tag.items() if js[0].state != "succeeded"][:5],
            "overlapping_job_ids": list(overlaps)[:5],
            "rerun_after_sigkill": rerun_after_kill[:5],
            "overlapping_bodies": overlapping_bodies[:5],
            "ran_twice_otherwise": ran_twice[:5],
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--rate", type=float, default=50.0, help="jobs enqueued per second")
    p.add_argument("--every", type=float, default=4.0, help="mean seconds between actions")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--drain-timeout", type=float, default=180.0)
    p.add_argument("--keep-db", action="store_true")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    name, url = fresh_database(args.url)
    scratch = Path(tempfile.mkdtemp(prefix="tickwork-chaos-"))
    log(f"database {name}; scratch {scratch}; seed {seed}")
    setup(
        url,
        [
            TaskDefinition(
                name="work",
                target=PythonTarget("cluster_tasks:work"),
                retry=RetryPolicy(max_retries=5, base_seconds=0.1, cap_seconds=1.0),
            ),
            TaskDefinition(
                name="tick",
                target=PythonTarget("cluster_tasks:tick"),
                schedule="* * * * * *",
                priority=10,
            ),
        ],
    )
    cluster = Cluster(url, scratch, scratch / "executions.log")
    enq = Enqueuer(url, args.rate, seed)
    chaos = Chaos(cluster, args.workers, seed + 1)
    failed = True
    try:
        chaos.start()
        enq.start()
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_action = t0 + chaos.rng.expovariate(1 / args.every)
        while time.monotonic() < end:
            now = time.monotonic()
            chaos.restart_due(now)
            chaos.check_alive()
            if now >= next_action:
                chaos.step()
                next_action = time.monotonic() + chaos.rng.expovariate(1 / args.every)
            time.sleep(0.1)
        enq.stop_event.set()
        enq.join(timeout=120)
        chaos.restart_due(float("inf"))
        chaos.check_alive()
        seconds = time.monotonic() - t0
        log(f"chaos over; {len(enq.acknowledged)} jobs acknowledged; draining")

        def drained() -> bool:
            chaos.check_alive()
            return (
                cluster.scalar(
                    "SELECT count(*) FROM tickwork_jobs WHERE task_name = 'work'"
                    " AND state IN ('scheduled', 'available', 'retrying', 'running')"
                )
                == 0
            )

        try:
            wait_for(drained, timeout=args.drain_timeout, interval=0.5)
        except AssertionError:
            log("the queue did not drain in time")
        for proc in chaos.workers + chaos.schedulers:
            status = cluster.stop(proc)
            if status != 0:
                chaos.bad_exits.append((proc.processor_id, status))
        result = report(cluster, enq, chaos, seconds)
        print(json.dumps(result, indent=2, default=str), flush=True)
        failed = bool(
            result["lost_acknowledged_without_job"]
            or result["other_states"]
            or result["two_jobs_for_one_enqueue"]
            or result["duplicates_overlapping_runs"]
            or result["tick_fire_gaps"]
            or result["tick_fires_with_two_jobs"]
            or result["bodies_overlapping"]
            or result["succeeded_without_a_completed_body"]
            or result["bodies_completed_twice_otherwise"]
            or result["bad_exits"]
        )
        log("FAILED: see above" if failed else "OK: nothing lost, nothing duplicated")
    finally:
        enq.stop_event.set()
        cluster.close()
        if not args.keep_db:
            with admin_engine(args.url).connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
