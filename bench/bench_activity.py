"""Run activity benchmark: what progress and events cost a task, and what they cost the store.

    .venv/bin/python bench/bench_activity.py [--pg-url postgresql://postgres@127.0.0.1/test]

Measures, in this process:

- a run's scope (what every run pays, emitting or not): binding and finishing it;
- ``tickwork.progress`` and ``tickwork.event`` per call inside a run (recorded in memory);
- the shell directive scanner over 10 MB of stdout without and with directive lines;
- writing 1,000 events in one batch to a SQLite file (and PostgreSQL with --pg-url).

Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import tickwork
from tickwork.domain.activity import NewRunEvent, RunEventKind
from tickwork.runtime.activity import CURRENT_RUN, ActivityRecorder, DirectiveScanner
from tickwork.store import create_store
from tickwork.store.migrate import upgrade


class Discard:
    async def add_run_events(self, events: object) -> None:
        return None


def per_call(label: str, n: int, fn: object) -> None:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    print(f"{label:<52} {elapsed / n * 1e9:10.0f} ns/call  ({n:,} calls)")


def bench_calls() -> None:
    recorder = ActivityRecorder(Discard(), max_per_run=10**9)  # type: ignore[arg-type]
    n = 200_000

    def scopes() -> None:
        for i in range(n):
            scope = recorder.scope(i, 1, "t")
            CURRENT_RUN.set(scope)
            recorder.finish(scope)

    per_call("run scope bound and finished (every run)", n, scopes)
    CURRENT_RUN.set(recorder.scope(1, 1, "t"))

    def progress() -> None:
        for i in range(n):
            tickwork.progress(i, n)

    per_call("tickwork.progress (coalesced, in memory)", n, progress)

    def events() -> None:
        for i in range(n):
            tickwork.event("synced", processed=i)

    per_call("tickwork.event (buffered, in memory)", n, events)


class Count:
    def __init__(self) -> None:
        self.n = 0

    def progress(self, done: float, total: float | None) -> None:
        self.n += 1

    def event(self, message: str, data: object) -> None:
        self.n += 1


def bench_scanner() -> None:
    plain = (b"an ordinary line of build output, about eighty bytes long ........\n") * 150_000
    mixed = (b"an ordinary line of build output ...\n" * 99 + b"::tickwork progress 5/10\n") * 2_000
    for label, data in (("plain stdout", plain), ("1 % directive lines", mixed)):
        out = Count()
        scanner = DirectiveScanner(out)
        start = time.perf_counter()
        for i in range(0, len(data), 65536):
            scanner.feed(data[i : i + 65536])
        elapsed = time.perf_counter() - start
        mb = len(data) / 1e6
        print(f"scanner, {label:<41} {mb / elapsed:10.0f} MB/s     ({out.n:,} directives)")


async def bench_store(url: str, label: str) -> None:
    store = create_store(url)
    upgrade(store.engine)
    await store.open()
    now = datetime.now(UTC)
    batch = [
        NewRunEvent(1, 1, "t", RunEventKind.EVENT, now, f"event {i}", data={"i": i})
        for i in range(1000)
    ]
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        await store.add_run_events(batch)
        timings.append(time.perf_counter() - start)
    await store.close()
    best = min(timings)
    print(f"write 1,000 events in one batch ({label}){'':<14} {best * 1e3:8.1f} ms  (best of 10)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    bench_calls()
    bench_scanner()
    with tempfile.TemporaryDirectory() as tmp:
        await bench_store(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite")
    if args.pg_url:
        await bench_store(args.pg_url, "PostgreSQL")


if __name__ == "__main__":
    asyncio.run(main())
