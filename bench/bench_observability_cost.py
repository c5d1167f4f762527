"""tickwork benchmark: what the rollups and the CPU meters cost the processing rate.

    .venv/bin/python bench/bench_observability_cost.py                 # SQLite, 24 rounds of 5,000
    .venv/bin/python bench/bench_observability_cost.py --rounds 40 -n 3000
    .venv/bin/python bench/bench_observability_cost.py --mode no-meters --jobs mark   # one part

The process step of ``bench_store.py`` (a worker process draining ``-n`` queued no-op jobs: the
async ``amark`` at c=100 b=200, the sync ``mark`` at c=20 b=100) runs in short rounds, each
round once with observability on and once off (``TICKWORK_BENCH_OBSERVABILITY``: no rollups,
no CPU meters), the order swapped every round (on/off, off/on, ...) so a drift of the
machine's load counts to both sides. Each round gives two ratios: steady jobs/s on ÷ off, and
the worker's CPU time per job on ÷ off (from its first job start to its last, all its threads:
what a job costs the process, less moved by waits for a core than the rate). Each ratio is
summed up by its median and the Hodges-Lehmann estimate (the median of the pairwise means of
the log ratios), each with a 95 % bootstrap interval (resampled rounds, fixed seed): the cost
is shown below 5 % when the interval's bound is. The load average is printed with every round.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_store import Bench  # noqa: E402
from observability_switch import ENV, MODES  # noqa: E402

JOBS = {"amark": (100, 200), "mark": (20, 100)}  # task: (concurrency, batch), as bench_store


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def hodges_lehmann(logs: list[float]) -> float:
    """The median of the pairwise (Walsh) means, each value with itself included."""
    n = len(logs)
    return statistics.median((logs[i] + logs[j]) / 2 for i in range(n) for j in range(i, n))


def interval(
    ratios: list[float], estimate: Callable[[list[float]], float], resamples: int = 2000
) -> tuple[float, float, float]:
    """``estimate`` of the log ratios (as a ratio) and its 95 % percentile bootstrap interval."""
    logs = [math.log(r) for r in ratios]
    rand = random.Random(1)
    boot = sorted(estimate([rand.choice(logs) for _ in logs]) for _ in range(resamples))
    lo, hi = boot[int(0.025 * resamples)], boot[int(0.975 * resamples) - 1]
    return math.exp(estimate(logs)), math.exp(lo), math.exp(hi)


def summary(ratios: list[float]) -> str:
    med, mlo, mhi = interval(ratios, statistics.median)
    hl, hlo, hhi = interval(ratios, hodges_lehmann)
    return f"{med:.3f} ({mlo:.3f}–{mhi:.3f}) | {hl:.3f} ({hlo:.3f}–{hhi:.3f})"


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=24)
    p.add_argument("-n", type=int, default=5_000)
    p.add_argument(
        "--mode",
        choices=[m for m in MODES if m != "off"],
        default="on",
        help="what is compared with off: all on, or one part (no-rollups: the meters alone)",
    )
    p.add_argument("--jobs", default=",".join(JOBS), help="of amark,mark")
    p.add_argument("--pin", action="store_true", help="the worker on one CPU (--cpus)")
    args = p.parse_args()
    jobs = {task: JOBS[task] for task in args.jobs.split(",")}
    mode_on = args.mode
    bench = Bench(None, Path(tempfile.mkdtemp(prefix="tickwork-obs-cost-")), pin=args.pin)
    ratios: dict[str, list[float]] = {task: [] for task in jobs}
    cpu_ratios: dict[str, list[float]] = {task: [] for task in jobs}
    rates: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = (mode_on, "off") if r % 2 == 0 else ("off", mode_on)
        got: dict[tuple[str, str], float] = {}
        cpu: dict[tuple[str, str], float] = {}
        for task, (concurrency, batch) in jobs.items():
            for mode in order:
                os.environ[ENV] = mode
                await bench.process(args.n, task, concurrency=concurrency, batch=batch)
                rate = float(bench.results[-1]["steady_jobs_per_s"])  # type: ignore[arg-type]
                got[task, mode] = rate
                cpu[task, mode] = float(bench.results[-1]["cpu_us_per_job"])  # type: ignore[arg-type]
                rates.setdefault((task, mode), []).append(rate)
                rates.setdefault((task, f"cpu {mode}"), []).append(cpu[task, mode])
            ratios[task].append(got[task, mode_on] / got[task, "off"])
            cpu_ratios[task].append(cpu[task, mode_on] / cpu[task, "off"])
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"# round {r + 1}: "
            + "; ".join(
                f"{t} {mode_on}/off rate {ratios[t][-1]:.3f} CPU/job {cpu_ratios[t][-1]:.3f}"
                for t in jobs
            )
            + f"; load average {load}",
            flush=True,
        )
    print(f"\n# {args.rounds} rounds of {args.n:,} jobs, SQLite, 1 worker; {mode_on} vs off")
    print(
        "| job | steady jobs/s on: median (IQR) | off | rate on/off: median (95 % CI) "
        "| Hodges-Lehmann (95 % CI) | CPU µs/job on: median | off "
        "| CPU/job on/off: median (95 % CI) | Hodges-Lehmann (95 % CI) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for task, (concurrency, batch) in jobs.items():
        on, off = quartiles(rates[task, mode_on]), quartiles(rates[task, "off"])
        cpu_on = statistics.median(rates[task, f"cpu {mode_on}"])
        cpu_off = statistics.median(rates[task, "cpu off"])
        print(
            f"| {task} c={concurrency} b={batch} | {on[1]:,.0f} ({on[0]:,.0f}–{on[2]:,.0f}) "
            f"| {off[1]:,.0f} ({off[0]:,.0f}–{off[2]:,.0f}) | {summary(ratios[task])} "
            f"| {cpu_on:.1f} | {cpu_off:.1f} | {summary(cpu_ratios[task])} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
