"""Job bodies for the multi-process tests and the chaos run.

Each execution appends one line ``tag start end pid`` to ``$CLUSTER_OUT`` with one O_APPEND
write when it ends (so a run killed by SIGKILL leaves no line). The log lives outside the
database on purpose: a job must not fail because its own database connection was terminated,
and it is evidence independent of tickwork's run records.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

_fd: int | None = None
_pid: int | None = None


def _record(tag: str, start: float, end: float) -> None:
    global _fd, _pid
    if _fd is None or _pid != os.getpid():
        _fd = os.open(os.environ["CLUSTER_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _pid = os.getpid()
    os.write(_fd, f"{tag} {start:.6f} {end:.6f} {os.getpid()}\n".encode())


async def work(tag: str, seconds: float = 0.0, gate: str | None = None) -> str:
    """Wait until the file ``gate`` exists (if given: a test decides when running jobs may
    end, whatever the machine's speed), sleep ``seconds`` on the event loop, then record the
    execution."""
    start = time.time()
    while gate is not None and not os.path.exists(gate):
        await asyncio.sleep(0.02)
    if seconds > 0:
        await asyncio.sleep(seconds)
    _record(tag, start, time.time())
    return tag


def work_sync(tag: str, seconds: float = 0.0) -> str:
    """The same from the worker's thread pool."""
    start = time.time()
    if seconds > 0:
        time.sleep(seconds)
    _record(tag, start, time.time())
    return tag


async def tick() -> None:
    """For schedules: record the start (tag "tick")."""
    t = time.time()
    _record("tick", t, t)


def read_log(path: Path) -> list[tuple[str, float, float, int]]:
    """The executions recorded in ``path``: (tag, start, end, pid)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        tag, start, end, pid = line.split()
        out.append((tag, float(start), float(end), int(pid)))
    return out


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant (an end frees before a start)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best
