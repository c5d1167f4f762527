"""Job bodies for the benchmarks: the same no-op as the peer benchmarks (one O_APPEND record)."""

from __future__ import annotations

import os
import time

_fd: int | None = None
_pid: int | None = None
# This process's CPU time at the first and the latest job start (``worker_proc`` writes them at
# exit): CPU per job between them, steadier than a rate on a shared machine.
cpu_first: float | None = None
cpu_last: float | None = None


def mark(enq: float) -> None:
    """Append "<enqueue ts> <start ts>" (36 bytes) to $BENCH_OUT in one write."""
    global _fd, _pid, cpu_first, cpu_last
    t = time.time()
    cpu_last = time.process_time()
    if cpu_first is None:
        cpu_first = cpu_last
    if _fd is None or _pid != os.getpid():
        _fd = os.open(os.environ["BENCH_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _pid = os.getpid()
    os.write(_fd, b"%17.6f %17.6f\n" % (enq, t))


async def amark(enq: float) -> None:
    """The same record from an async task (runs on the worker's event loop, no thread hop)."""
    mark(enq)


def fire_mark(enq: float = 0.0) -> None:
    """For cron fires: the scheduled time is looked up afterwards; record the start."""
    mark(enq)


async def afire_mark(enq: float = 0.0) -> None:
    mark(enq)
