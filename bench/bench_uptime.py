"""Heartbeat checks' uptime for the weekly report, and pruning their pings, at size.

    .venv/bin/python bench/bench_uptime.py                       # SQLite, 200 checks x 5 min
    .venv/bin/python bench/bench_uptime.py --checks 1000 --every 1
    .venv/bin/python bench/bench_uptime.py --pg-url postgresql://postgres@127.0.0.1/test

For each backend: ``--checks`` checks, each pinged every ``--every`` minutes for 8 days (one
ping in 50 a failure), written straight into the tables. Then:

1. the report's section: ``Checks.uptimes`` over the last 7 days, ``--rounds`` times: the
   first replays every check's pings of the range and keeps the settled hours, the next ones
   read those and replay the hour the range ends in (median and max wall time);
2. one pass of the pruner over the pings with ``pings_days`` 3 (each check's newest 100 kept),
   batches of 1,000 and no pause: wall time, rows removed, batches.

Prints the figures and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_api import fresh_url

from tickwork.clock import FakeClock
from tickwork.domain.checks import CheckSource, CheckSpec, new_check
from tickwork.domain.retention import RetentionPolicy
from tickwork.runtime.pruner import Pruner
from tickwork.service.checks import Checks
from tickwork.service.context import Context
from tickwork.store import create_store
from tickwork.store import migrate as migrations
from tickwork.store.checks import check_values
from tickwork.store.schema_alerting import check_pings, checks

RESULTS = Path(__file__).parent / "results"
DAYS = 8


async def run(url: str, n_checks: int, every_minutes: float, rounds: int) -> dict[str, Any]:
    engine = create_store(url).engine
    migrations.upgrade(engine)
    now = datetime(2026, 6, 1, 9, tzinfo=UTC)
    step = timedelta(minutes=every_minutes)
    per_check = int(DAYS * 24 * 60 / every_minutes)
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(n_checks):
            spec = CheckSpec(f"check-{i:05d}", period_seconds=every_minutes * 60, grace_seconds=60)
            check = new_check(spec, CheckSource.API, now - timedelta(days=DAYS + 1))
            values = check_values(check)
            values["pings"] = per_check
            conn.execute(checks.insert(), values)
            conn.execute(
                check_pings.insert(),
                [
                    {
                        "check_uuid": check.uuid,
                        "kind": "fail" if k % 50 == 49 else "success",
                        "at": now - (per_check - k) * step,
                        "method": "GET",
                        "remote_addr": "127.0.0.1",
                        "user_agent": "curl",
                        "body": "",
                        "body_bytes": 0,
                    }
                    for k in range(per_check)
                ],
            )
    written = time.perf_counter() - started
    engine.dispose()

    store = create_store(url)
    await store.open()
    try:
        clock = FakeClock(now)
        service = Checks(Context(store, clock=clock))
        times = []
        lines: list[Any] = []
        for round_ in range(rounds):
            # Each view a few minutes later, as people look again: the range moves with now.
            clock.set(now + timedelta(minutes=7 * round_))
            began = time.perf_counter()
            lines = await service.uptimes(clock.now() - timedelta(days=7), clock.now())
            times.append(time.perf_counter() - began)
        assert len(lines) == n_checks
        policy = RetentionPolicy(pings_days=3, keep_last_pings=100, pause_seconds=0)
        began = time.perf_counter()
        report = await Pruner(store, policy, clock=FakeClock(now)).prune()
        prune_seconds = time.perf_counter() - began
    finally:
        await store.close()
    return {
        "checks": n_checks,
        "pings": n_checks * per_check,
        "write_seconds": round(written, 1),
        "uptimes_first_seconds": round(times[0], 3),
        "uptimes_kept_median_seconds": round(statistics.median(times[1:] or times), 3),
        "uptimes_kept_max_seconds": round(max(times[1:] or times), 3),
        "uptime_sample": lines[0].uptime,
        "prune_seconds": round(prune_seconds, 2),
        "pings_pruned": report.counts.get("check_pings", 0),
        "prune_batches": report.batches,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--every", type=float, default=5.0, help="minutes between pings")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pg-url", help="also PostgreSQL (a database bench_uptime is made)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        backends = ["sqlite", *(["postgresql"] if args.pg_url else [])]
        for backend in backends:
            url = fresh_url(backend, args.pg_url, Path(scratch), "uptime", "bench_uptime")
            found = await run(url, args.checks, args.every, args.rounds)
            results[backend] = found
            print(
                f"{backend}: {found['checks']} checks, {found['pings']:,} pings;"
                f" uptimes over 7 days: first {found['uptimes_first_seconds']} s, with the hours"
                f" kept median {found['uptimes_kept_median_seconds']} s"
                f" (max {found['uptimes_kept_max_seconds']} s); prune {found['pings_pruned']:,}"
                f" pings in {found['prune_seconds']} s, {found['prune_batches']} batches"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "uptime.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
