"""The CPU meters of in-process Python runs: an async task's share of the worker
(``WorkerShare``, ``ShareMeter``) and a sync task's thread CPU time (``ThreadMeter``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tickwork.domain.jobs import ResourceScope, ResourceUse

# Reading a process's or a thread's CPU clock is a system call (a few microseconds, and longer
# the more threads the process has): the in-process meters read at most once per this much
# wall time, so what a no-op job costs stays flat. Up to this much CPU time may be counted
# to a neighbouring run instead.
CPU_CLOCK_EVERY_SECONDS = 0.001


class WorkerShare:
    """The worker process's CPU time split evenly among the async tasks running at each moment.

    ``per_task`` grows, between two readings of the process's CPU clock, by the CPU time of
    that span divided by the tasks running at its end; a task's share is how much it grew
    while the task ran. The clock is read at a task's start or end, at most every
    ``CPU_CLOCK_EVERY_SECONDS``. The process's time includes all else the worker did meanwhile
    (claims, result writes, the threads of sync tasks), so a share is the task's part of the
    worker, never its own figure (``ResourceScope.WORKER``). Used on the event loop's thread
    only: no lock.
    """

    __slots__ = ("_last", "_last_wall", "_per_task", "_running")

    def __init__(self) -> None:
        self._running = 0
        self._last = time.process_time()
        self._last_wall = time.perf_counter()
        self._per_task = 0.0

    def _advance(self) -> float:
        wall = time.perf_counter()
        if wall - self._last_wall >= CPU_CLOCK_EVERY_SECONDS:
            now = time.process_time()
            if self._running:
                self._per_task += (now - self._last) / self._running
            self._last = now
            self._last_wall = wall
        return self._per_task

    def enter(self) -> float:
        """A task starts; the mark to hand to ``leave``."""
        mark = self._advance()
        self._running += 1
        return mark

    def leave(self, mark: float) -> float:
        """The task of ``mark`` ended; its share in CPU seconds."""
        share = self._advance() - mark
        self._running -= 1
        return share


class ShareMeter:
    """An async task's share of the worker (``WorkerShare``) over its wall time."""

    __slots__ = ("_began", "_mark", "_share", "_used")

    def __init__(self, share: WorkerShare) -> None:
        self._share = share
        self._mark = share.enter()
        self._began = time.perf_counter()
        self._used: ResourceUse | None = None

    def stop(self) -> ResourceUse:
        """The figures, measured at the first call (the share ends once)."""
        if self._used is None:
            wall = time.perf_counter() - self._began
            cpu = self._share.leave(self._mark)
            self._used = ResourceUse.measured(ResourceScope.WORKER, cpu, wall)
        return self._used


class _ThreadClock(threading.local):
    """A pool thread's last reading of its CPU clock, and when (wall time) it was taken."""

    cpu = 0.0
    wall = -1.0


_THREAD_CLOCK = _ThreadClock()


class ThreadMeter:
    """The CPU time of the pool thread that runs a sync task (``time.thread_time``).

    A thread that ended a call less than ``CPU_CLOCK_EVERY_SECONDS`` ago starts the next from
    that reading: back-to-back calls then read the clock once each, and the pool's own
    handling in between (microseconds) counts to the call."""

    __slots__ = ("cpu", "wall")

    def __init__(self) -> None:
        self.cpu: float | None = None
        self.wall = 0.0

    def call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call ``func`` in the pool thread, measuring it."""
        clock = _THREAD_CLOCK
        began = time.perf_counter()
        cpu = clock.cpu if began - clock.wall < CPU_CLOCK_EVERY_SECONDS else time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            ended = time.perf_counter()
            clock.cpu = time.thread_time()
            clock.wall = ended
            self.wall = ended - began
            self.cpu = clock.cpu - cpu  # last: once set, both are

    def stop(self) -> ResourceUse | None:
        """The figures; None while the thread still runs (a timed-out task)."""
        cpu = self.cpu
        if cpu is None:
            return None
        return ResourceUse.measured(ResourceScope.THREAD, cpu, self.wall)
