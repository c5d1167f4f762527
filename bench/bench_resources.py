"""What measuring a run's resources costs the executors: microseconds per no-op run.

    .venv/bin/python bench/bench_resources.py              # sync and async no-ops, n=20000
    .venv/bin/python bench/bench_resources.py --shell 200  # and 200 `true` shell commands
    .venv/bin/python bench/bench_resources.py --store 20000  # worker CPU per job, end to end

Runs the Python executor's in-process paths (a sync no-op in the pool, an async no-op on the
loop) and, optionally, the shell executor, and prints one JSON line per case with the median
of ``--repeat`` rounds and the best (on a busy machine, compare the best). Run it against
two checkouts (``PYTHONPATH=<other>/src``) in the same
hour to compare; the figures say nothing across machines.

``--store N`` runs ``bench_store.py``'s processing step (N no-op jobs, SQLite, one worker
process, async then sync) and prints the worker process's CPU time per job (user + system,
from ``wait4`` of the worker): unlike jobs per second it holds still on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tickwork.domain.tasks import PythonTarget, ShellTarget  # noqa: E402
from tickwork.runtime.executors.python import PythonExecutor  # noqa: E402
from tickwork.runtime.executors.shell import run_shell  # noqa: E402


def noop() -> None:
    return None


async def anoop() -> None:
    return None


FUNCS = {"sync": noop, "async": anoop}


async def python_round(ex: PythonExecutor, kind: str, n: int, concurrency: int) -> float:
    target = PythonTarget(f"bench_resources:{'noop' if kind == 'sync' else 'anoop'}")
    left = n

    async def one_lane() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await ex.run(target, [], {}, None)

    t0 = time.perf_counter()
    await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    return (time.perf_counter() - t0) / n * 1e6


async def shell_round(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await run_shell(ShellTarget("true"), None)
    return (time.perf_counter() - t0) / n * 1e6


async def store_cpu(n: int) -> None:
    from bench_store import Bench

    bench = Bench(None, Path(tempfile.mkdtemp(prefix="tickwork-bench-")))
    for task, concurrency, batch in (("amark", 100, 200), ("mark", 20, 100)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        await bench.process(n, task, concurrency=concurrency, batch=batch)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        row = {"case": f"worker CPU per {task} job", "n": n, "us_per_job": round(cpu / n * 1e6, 1)}
        print(json.dumps(row), flush=True)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--shell", type=int, default=0, help="shell commands per round (0: none)")
    p.add_argument("--store", type=int, default=0, help="jobs through a worker (0: none)")
    args = p.parse_args()
    if args.store:
        await store_cpu(args.store)
        return
    ex = PythonExecutor(resolve=lambda path: FUNCS["sync" if path.endswith(":noop") else "async"])
    for kind in ("sync", "async"):
        await python_round(ex, kind, 1000, args.concurrency)  # warm up
        rounds = [
            await python_round(ex, kind, args.n, args.concurrency) for _ in range(args.repeat)
        ]
        row = {
            "case": f"python {kind} no-op",
            "n": args.n,
            "us_per_run": round(statistics.median(rounds), 2),
            "best": round(min(rounds), 2),
        }
        print(json.dumps({**row, "rounds": [round(r, 2) for r in rounds]}), flush=True)
    if args.shell:
        rounds = [await shell_round(args.shell) for _ in range(args.repeat)]
        row = {"case": "shell true", "n": args.shell, "us_per_run": statistics.median(rounds)}
        print(json.dumps({**row, "rounds": [round(r) for r in rounds]}), flush=True)
    ex.close()


if __name__ == "__main__":
    asyncio.run(main())
