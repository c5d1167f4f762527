"""Partial results of a run: ``tickwork.report(processed=..., failed=..., **metrics)``.

The Python executor opens a ``RunReport`` around each call of a task (``reporting``); the task
adds to it with ``report`` from any code it runs: coroutines and tasks it spawns, its thread in
the pool, or an isolated child process. What was reported ends up in ``Outcome.metrics`` and in
the run's record, on success and on failure or timeout alike (partial results matter most then).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

MetricValue = float | int | str

# The report of the run the current code belongs to. Executors set it around each call (directly,
# or with ``reporting``); tasks reach it through ``report``.
CURRENT_REPORT: ContextVar[RunReport | None] = ContextVar("tickwork_run_report", default=None)


class RunReport:
    """The counters and metrics of one run; safe to update from several threads."""

    __slots__ = ("_failed", "_lock", "_metrics", "_processed", "on_change")

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._processed: int | None = None
        self._failed: int | None = None
        self._metrics: dict[str, MetricValue] = {}
        self._lock = threading.Lock()
        self.on_change = on_change  # called after each update (an isolated child streams them)

    def add(
        self, processed: int | None, failed: int | None, metrics: dict[str, MetricValue]
    ) -> None:
        with self._lock:
            if processed is not None:
                self._processed = (self._processed or 0) + processed
            if failed is not None:
                self._failed = (self._failed or 0) + failed
            self._metrics.update(metrics)
        if self.on_change is not None:
            self.on_change()

    def snapshot(self) -> dict[str, Any] | None:
        """What was reported so far: ``processed``, ``failed``, then the metrics; None if none."""
        with self._lock:
            if self._processed is None and self._failed is None and not self._metrics:
                return None
            out: dict[str, Any] = {}
            if self._processed is not None:
                out["processed"] = self._processed
            if self._failed is not None:
                out["failed"] = self._failed
            out.update(self._metrics)
            return out


def report(processed: int | None = None, failed: int | None = None, **metrics: MetricValue) -> None:
    """Report progress of the current run: counters add up, metrics overwrite.

    ``report(processed=100)`` twice records ``processed: 200``; ``report(rows_per_s=41.5)``
    records the latest value. Metric values are numbers or strings (a float that is not finite
    is stored as its text, e.g. ``"nan"``). Outside a run (e.g. a task called directly in a unit
    test) it does nothing. Raises TypeError for counters that are not ints and for values of other
    types.
    """
    for name, count in (("processed", processed), ("failed", failed)):
        if count is not None and (type(count) is bool or not isinstance(count, int)):
            raise TypeError(f"report({name}=...) takes an int, got {type(count).__name__}")
    clean: dict[str, MetricValue] = {}
    for name, value in metrics.items():
        if not isinstance(value, float | int | str):
            raise TypeError(
                f"report({name}=...) takes a number or a string, got {type(value).__name__}"
            )
        # PostgreSQL's JSON types reject NaN and Infinity.
        clean[name] = str(value) if isinstance(value, float) and not math.isfinite(value) else value
    current = CURRENT_REPORT.get()
    if current is not None:
        current.add(processed, failed, clean)


def current_report() -> RunReport | None:
    """The report of the run this code belongs to, if any."""
    return CURRENT_REPORT.get()


@contextmanager
def reporting(run_report: RunReport) -> Iterator[RunReport]:
    """Make ``run_report`` the current one in this context (and contexts copied from it)."""
    token = CURRENT_REPORT.set(run_report)
    try:
        yield run_report
    finally:
        CURRENT_REPORT.reset(token)
