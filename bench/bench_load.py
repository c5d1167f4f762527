"""How long the load preview's counting takes for 1,000 schedules over a week
(``domain.load.load_report``: the counts, the peaks, the pile-ups and the counts again with the
proposed offsets), for a mix of schedules and for the worst kind (every one different, firing
every minute). Run: ``.venv/bin/python bench/bench_load.py``."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime

from tickwork.domain.load import LoadInput, load_report
from tickwork.domain.schedules import parse_schedule

START = datetime(2026, 12, 7, tzinfo=UTC)


def mixed(count: int) -> list[LoadInput]:
    """Hourly crons in Berlin, intervals, every-few-minutes crons, weekday crons in New York
    and top-of-the-hour jobs; p95 durations from 5 s to over an hour, some without runs."""
    rng = random.Random(1)
    out: list[LoadInput] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            expression, zone = f"{rng.randrange(60)} * * * *", "Europe/Berlin"
        elif kind == 1:
            expression, zone = f"every {rng.choice([30, 60, 300, 600, 900, 3600])}s", "UTC"
        elif kind == 2:
            expression, zone = f"*/{rng.choice([1, 2, 5, 10])} * * * *", "UTC"
        elif kind == 3:
            expression = f"{rng.randrange(60)} {rng.randrange(24)} * * 1-5"
            zone = "America/New_York"
        else:
            expression, zone = "0 * * * *", "UTC"
        p95 = rng.choice([None, 5.0, 65.0, 4000.0])
        out.append(LoadInput(f"job-{i}", parse_schedule(expression, zone), p95))
    return out


def worst(count: int) -> list[LoadInput]:
    """Every schedule different (its own second and duration), each firing every minute."""
    return [
        LoadInput(f"w-{i}", parse_schedule(f"{i % 60} * * * * *"), float(i)) for i in range(count)
    ]


def timed(inputs: list[LoadInput], rounds: int = 3) -> float:
    seconds = []
    for _ in range(rounds):
        began = time.perf_counter()
        load_report(inputs, START, 7)
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


if __name__ == "__main__":
    for name, inputs in (("mixed", mixed(1000)), ("worst", worst(1000))):
        print(f"{name}: 1,000 schedules over 7 days: {timed(inputs):.2f} s (median of 3)")
