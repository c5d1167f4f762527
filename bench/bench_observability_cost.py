"""tickwork benchmark: what the rollups and the CPU meters cost the processing rate.

    .venv/bin/python bench/bench_observability_cost.py                 # SQLite, 12 rounds
    .venv/bin/python bench/bench_observability_cost.py --rounds 16 -n 5000

The process step of ``bench_store.py`` (a worker process draining ``-n`` queued no-op jobs: the
async ``amark`` at c=100 b=200, the sync ``mark`` at c=20 b=100) runs in short rounds, each
round once with observability on and once off (``TICKWORK_BENCH_OBSERVABILITY``: no rollups,
no CPU meters), the order swapped every round (on/off, off/on, ...) so a drift of the
machine's load counts to both sides. Each round gives a ratio, steady jobs/s on ÷ off; the
median and the interquartile range of the ratios say what the noise of a shared machine
leaves of the cost. The load average is printed with every round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_store import Bench  # noqa: E402
from observability_switch import ENV  # noqa: E402

JOBS = {"amark": (100, 200), "mark": (20, 100)}  # task: (concurrency, batch), as bench_store


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("-n", type=int, default=10_000)
    args = p.parse_args()
    bench = Bench(None, Path(tempfile.mkdtemp(prefix="tickwork-obs-cost-")))
    ratios: dict[str, list[float]] = {task: [] for task in JOBS}
    rates: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = ("on", "off") if r % 2 == 0 else ("off", "on")
        got: dict[tuple[str, str], float] = {}
        for task, (concurrency, batch) in JOBS.items():
            for mode in order:
                os.environ[ENV] = mode
                await bench.process(args.n, task, concurrency=concurrency, batch=batch)
                rate = float(bench.results[-1]["steady_jobs_per_s"])  # type: ignore[arg-type]
                got[task, mode] = rate
                rates.setdefault((task, mode), []).append(rate)
            ratios[task].append(got[task, "on"] / got[task, "off"])
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"# round {r + 1}: "
            + "; ".join(f"{t} on/off {ratios[t][-1]:.3f}" for t in JOBS)
            + f"; load average {load}",
            flush=True,
        )
    print(f"\n# {args.rounds} rounds of {args.n:,} jobs, steady jobs/s, SQLite, 1 worker process")
    print("| job | on: median (IQR) | off: median (IQR) | ratio on/off: median | ratio IQR |")
    print("|---|---|---|---|---|")
    for task, (concurrency, batch) in JOBS.items():
        on, off = quartiles(rates[task, "on"]), quartiles(rates[task, "off"])
        q1, q2, q3 = quartiles(ratios[task])
        print(
            f"| {task} c={concurrency} b={batch} | {on[1]:,.0f} ({on[0]:,.0f}–{on[2]:,.0f}) "
            f"| {off[1]:,.0f} ({off[0]:,.0f}–{off[2]:,.0f}) | {q2:.3f} | {q1:.3f}–{q3:.3f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
