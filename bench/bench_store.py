"""tickwork benchmark: enqueue rate, processing rate, enqueue-to-start latency, cron fire lateness.

    .venv/bin/python bench/bench_store.py                        # SQLite file in a temp dir
    .venv/bin/python bench/bench_store.py --url postgresql://postgres@127.0.0.1/bench
    .venv/bin/python bench/bench_store.py --only process,latency
    .venv/bin/python bench/bench_store.py --url postgresql://... --only process --workers 1,2,4
    .venv/bin/python bench/bench_store.py --url postgresql://... --only keylimit
    .venv/bin/python bench/bench_store.py --only process --observability off   # no rollups, meters

The job body is the peer benchmarks' no-op: one O_APPEND write of (enqueue time, start time), so
figures compare with the team's peer benchmark kit on the same machine. History is on: every job
also gets its run record, as always in tickwork.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from observability_switch import ENV, MODES  # noqa: E402

from tickwork.domain.queries import RunQuery  # noqa: E402
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource  # noqa: E402
from tickwork.service.context import Context  # noqa: E402
from tickwork.service.facade import Service  # noqa: E402
from tickwork.service.jobs import EnqueueRequest  # noqa: E402
from tickwork.store import SqlStore, create_store  # noqa: E402
from tickwork.store import migrate as migrations  # noqa: E402

REC = 36
TASKS = [
    TaskDefinition(name="mark", target=PythonTarget("bench_tasks:mark")),
    TaskDefinition(name="amark", target=PythonTarget("bench_tasks:amark")),
]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def records(path: Path) -> list[tuple[float, float]]:
    out = []
    with path.open("rb") as f:
        for line in f:
            a, b = line.split()
            out.append((float(a), float(b)))
    return out


def worker_cpu(path: Path) -> tuple[float, int] | None:
    """The CPU seconds the workers spent between their first and last job starts, and how many
    workers wrote them (``worker_proc``'s ``BENCH_CPU_OUT``); None if none did."""
    if not path.exists():
        return None
    spans = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not spans:
        return None
    return sum(float(b) - float(a) for a, b in spans), len(spans)


class Bench:
    def __init__(self, url: str | None, scratch: Path, pin: bool = False) -> None:
        self.pin = pin  # each worker process on one CPU of its own
        self.scratch = scratch
        self.base_url = url
        self.results: list[dict[str, object]] = []

    def fresh_url(self, tag: str) -> str:
        if self.base_url is None or self.base_url.startswith("sqlite"):
            return f"sqlite:///{self.scratch / f'{tag}-{time.time_ns()}.db'}"
        import sqlalchemy as sa

        base = sa.make_url(self.base_url).set(drivername="postgresql+psycopg")
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"tickwork_bench_{tag.replace('-', '_')}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return base.set(database=name).render_as_string(hide_password=False)

    async def store(
        self, url: str, tasks: list[TaskDefinition] = TASKS
    ) -> tuple[SqlStore, Service]:
        store = create_store(url)
        migrations.upgrade(store.engine)
        service = Service(Context(store, resolve=None))
        await service.sync_definitions(tasks, [TaskSource.CODE])
        return store, service

    def record(self, **row: object) -> None:
        self.results.append(row)
        print(json.dumps(row), flush=True)

    def worker(self, url: str, out: Path, *extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "BENCH_OUT": str(out),
            "BENCH_CPU_OUT": f"{out}.cpu",
            # The caller's PYTHONPATH too: a tree given there (to time other code) is the
            # workers' code as well, not only the bench's.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        log = (self.scratch / "worker.log").open("ab")
        return subprocess.Popen(
            [sys.executable, str(HERE / "worker_proc.py"), url, *extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # --- enqueue ---------------------------------------------------------------------------
    async def enqueue(self, n_single: int, n_bulk: int) -> None:
        store, service = await self.store(self.fresh_url("enqueue"))
        t0 = time.perf_counter()
        for _ in range(n_single):
            await service.enqueue(EnqueueRequest("mark", args=(time.time(),)))
        dt = time.perf_counter() - t0
        self.record(kind="enqueue", variant="single", n=n_single, jobs_per_s=round(n_single / dt))
        t0 = time.perf_counter()
        for start in range(0, n_bulk, 1000):
            reqs = [
                EnqueueRequest("mark", args=(time.time(),))
                for _ in range(min(1000, n_bulk - start))
            ]
            await service.enqueue_many(reqs)
        dt = time.perf_counter() - t0
        self.record(kind="enqueue", variant="bulk x1000", n=n_bulk, jobs_per_s=round(n_bulk / dt))
        await store.close()

    # --- processing ------------------------------------------------------------------------
    async def process(
        self,
        n: int,
        task: str,
        concurrency: int,
        batch: int,
        keys: int = 0,
        key_limit: int | None = None,
        rate_limit: str | None = None,
        workers: int = 1,
    ) -> None:
        """``workers`` processes share the queue; starts are counted from the records file
        they all append to."""
        url = self.fresh_url(f"process-{task}")
        store, service = await self.store(url)
        out = self.scratch / f"process-{task}-{time.time_ns()}.rec"
        out.touch()
        for start in range(0, n, 5000):
            await service.enqueue_many(
                [
                    EnqueueRequest(
                        task, args=(time.time(),), key=f"k{(start + i) % keys}" if keys else None
                    )
                    for i in range(min(5000, n - start))
                ]
            )
        launch = time.time()
        extra = ["--key-limit", str(key_limit)] if key_limit else []
        extra += ["--rate-limit", rate_limit] if rate_limit else []
        cpus = sorted(os.sched_getaffinity(0)) if self.pin else []
        procs = [
            self.worker(
                url,
                out,
                "--concurrency",
                str(concurrency),
                "--batch",
                str(batch),
                *extra,
                # --pin: worker i on CPU i (modulo the CPUs), as tickwork's --cpus does it.
                *(["--cpus", str(cpus[i % len(cpus)])] if cpus else []),
            )
            for i in range(workers)
        ]
        deadline = time.time() + 600
        while out.stat().st_size // REC < n and time.time() < deadline:
            await asyncio.sleep(0.02)
        for proc in procs:
            self.stop(proc)
        starts = [b for _, b in records(out)]
        cpu = worker_cpu(Path(f"{out}.cpu"))
        counts = await store.count_jobs_by_state()
        runs = len(await store.query_runs(RunQuery(limit=n + 10, sort="id")))
        first, last = min(starts), max(starts)
        self.record(
            kind="process",
            variant=f"{task} {workers} proc{'s' if workers > 1 else ''} x c={concurrency} b={batch}"
            + (f" key_limit={key_limit} over {keys} keys" if keys else "")
            + (f" rate_limit={rate_limit}" if rate_limit else ""),
            n=n,
            done=len(starts),
            succeeded=counts[next(s for s in counts if s.value == "succeeded")],
            runs=runs,
            observability=os.environ.get(ENV, "on"),
            pinned=self.pin,
            wall_jobs_per_s=round(len(starts) / (last - launch)),
            steady_jobs_per_s=round(len(starts) / (last - first)) if last > first else None,
            # Each worker's CPU from its first job start to its last, per job between them.
            cpu_us_per_job=round(cpu[0] / (len(starts) - cpu[1]) * 1e6, 1)
            if cpu and len(starts) > cpu[1]
            else None,
        )
        await store.close()

    # --- latency ---------------------------------------------------------------------------
    async def latency(self, rate: float, seconds: float, task: str) -> None:
        url = self.fresh_url(f"latency-{task}")
        store, service = await self.store(url)
        out = self.scratch / f"latency-{task}-{time.time_ns()}.rec"
        out.touch()
        proc = self.worker(url, out, "--concurrency", "20", "--batch", "50")
        await asyncio.sleep(2.0)  # worker up
        n = int(rate * seconds)
        t0 = time.perf_counter()
        for i in range(n):
            target = t0 + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await service.enqueue(EnqueueRequest(task, args=(time.time(),)))
        deadline = time.time() + 30
        while out.stat().st_size // REC < n and time.time() < deadline:
            await asyncio.sleep(0.02)
        self.stop(proc)
        lat = [(b - a) * 1000 for a, b in records(out)]
        self.record(
            kind="latency",
            variant=f"{task} {rate:g}/s x {seconds:g}s (other process)",
            n=n,
            done=len(lat),
            p50_ms=round(pct(lat, 50), 2),
            p99_ms=round(pct(lat, 99), 2),
            max_ms=round(max(lat), 2),
        )
        await store.close()

    # --- cron ------------------------------------------------------------------------------
    async def cron(
        self, schedules: int, warmup: float, seconds: float, fn: str, concurrency: int
    ) -> None:
        url = self.fresh_url("cron")
        tasks = [
            TaskDefinition(
                name=f"cron-{i}", target=PythonTarget(f"bench_tasks:{fn}"), schedule="* * * * * *"
            )
            for i in range(schedules)
        ]
        store, _service = await self.store(url, tasks)
        out = self.scratch / f"cron-{time.time_ns()}.rec"
        out.touch()
        proc = self.worker(
            url, out, "--scheduler", "--concurrency", str(concurrency), "--batch", str(concurrency)
        )
        await asyncio.sleep(warmup + seconds)
        self.stop(proc)
        t_from = datetime.fromtimestamp(time.time() - seconds - 1, UTC)
        import sqlalchemy as sa

        from tickwork.store.schema import jobs, runs

        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.fire_at, runs.c.started_at)
                .join(runs, runs.c.job_id == jobs.c.id)
                .where(jobs.c.fire_at >= t_from)
            ).all()
            fires = conn.execute(
                sa.select(sa.func.count()).select_from(jobs).where(jobs.c.fire_at >= t_from)
            ).scalar()
        late = [(s - f).total_seconds() * 1000 for f, s in rows]
        expected = schedules * int(seconds)
        self.record(
            kind="cron",
            variant=f"{schedules} x every 1s, {fn} c={concurrency}",
            seconds=seconds,
            fires=fires,
            expected_about=expected,
            runs=len(late),
            p50_ms=round(pct(late, 50), 1),
            p99_ms=round(pct(late, 99), 1),
            max_ms=round(max(late), 1),
            mean_ms=round(statistics.fmean(late), 1),
        )
        await store.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", help="PostgreSQL URL (default: SQLite files in a temp dir)")
    p.add_argument("--only", default="enqueue,process,latency,cron,policies")
    p.add_argument("-n", type=int, default=20000)
    p.add_argument(
        "--workers",
        default=None,
        help="worker processes for the process step, e.g. 1,2,4 (default: 1,2,4 on PostgreSQL, "
        "1 on SQLite)",
    )
    p.add_argument(
        "--observability",
        choices=MODES,
        default="on",
        help="off: the workers keep no rollups and meter no CPU (what they cost; "
        "observability_switch); no-rollups, no-meters: one of them off",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="each worker process on one CPU of its own (tickwork's --cpus), as "
        "docs/how-to/tune-throughput.md advises",
    )
    args = p.parse_args()
    os.environ[ENV] = args.observability  # the worker processes read it
    is_pg = bool(args.url) and not args.url.startswith("sqlite")
    workers = [int(w) for w in (args.workers or ("1,2,4" if is_pg else "1")).split(",")]
    steps = set(args.only.split(","))
    scratch = Path(tempfile.mkdtemp(prefix="tickwork-bench-"))
    bench = Bench(args.url, scratch, pin=args.pin)
    print(f"# tickwork bench on {args.url or 'SQLite'}; scratch {scratch}", flush=True)
    if "enqueue" in steps:
        await bench.enqueue(n_single=5000, n_bulk=args.n)
    if "process" in steps:
        for w in workers:
            await bench.process(args.n, "amark", concurrency=100, batch=200, workers=w)
        for w in workers:
            await bench.process(args.n, "mark", concurrency=20, batch=100, workers=w)
        if is_pg:  # procrastinate's configuration: 2 processes x 10 concurrent jobs
            await bench.process(args.n, "amark", concurrency=10, batch=10, workers=2)
    if "policies" in steps:
        await bench.process(args.n, "amark", concurrency=100, batch=200)
        await bench.process(args.n, "amark", concurrency=100, batch=200, keys=1000, key_limit=2)
        await bench.process(args.n, "amark", concurrency=100, batch=200, rate_limit="5000 per 1s")
    if "policies" in steps or "keylimit" in steps:
        # A binding per-key limit: 10 keys x 2 = at most 20 running of the 100 slots, so most
        # of the queue is held back at every claim (2 processes share it).
        await bench.process(
            args.n // 4, "amark", concurrency=100, batch=200, keys=10, key_limit=2, workers=2
        )
    if "latency" in steps:
        await bench.latency(50, 10, "amark")
    if "cron" in steps:
        await bench.cron(1000, warmup=5, seconds=20, fn="afire_mark", concurrency=1000)
        await bench.cron(1000, warmup=5, seconds=20, fn="fire_mark", concurrency=200)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    path = results / f"bench-{'pg' if args.url else 'sqlite'}-{int(time.time())}.json"
    path.write_text(json.dumps(bench.results, indent=2))
    print(f"# written {path}")


if __name__ == "__main__":
    asyncio.run(main())
