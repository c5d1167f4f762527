"""Turns the rollups and the in-process CPU meters off in this process, for the benchmarks that
measure what they cost. Benchmarks only: tickwork has no setting for it, by design.

    TICKWORK_BENCH_OBSERVABILITY=off   # read by worker_proc.py before it builds its store
    TICKWORK_BENCH_OBSERVABILITY=no-rollups | no-meters   # one part off, to split the cost
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from tickwork.runtime.executors import python as python_executor
from tickwork.store import rollups
from tickwork.store.postgres import queue as pg_queue
from tickwork.store.sqlite import queue as sqlite_queue

ENV = "TICKWORK_BENCH_OBSERVABILITY"
_EMPTY = rollups.RollupRows([], [], [], [])


def _no_rollup_rows(batch: Iterable[rollups.Finished], codec: object = None) -> rollups.RollupRows:
    for _ in batch:  # the dialects hand a generator: consume it as rollup_rows would
        pass
    return _EMPTY


class _NoMeter:
    """Stands for ``ShareMeter`` and ``ThreadMeter``: calls through, measures nothing."""

    __slots__ = ()

    def __init__(self, *share: object) -> None:
        pass

    def call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return func(*args, **kwargs)

    def stop(self) -> None:
        return None


def set_rollups(on: bool) -> None:
    """The dialects' ``complete`` build the rollup rows (on) or none, so nothing is upserted."""
    for module in (sqlite_queue, pg_queue):
        module.rollup_rows = rollups.rollup_rows if on else _no_rollup_rows  # type: ignore[attr-defined]


def set_meters(on: bool) -> None:
    """In-process Python runs are metered (on) or record no CPU figures."""
    from tickwork.runtime.executors.meters import ShareMeter, ThreadMeter

    python_executor.ShareMeter = ShareMeter if on else _NoMeter  # type: ignore[misc,assignment]
    python_executor.ThreadMeter = ThreadMeter if on else _NoMeter  # type: ignore[misc,assignment]


MODES = ("on", "off", "no-rollups", "no-meters")


def from_environment() -> bool:
    """Applies ``TICKWORK_BENCH_OBSERVABILITY`` (``MODES``; ``on`` by default); whether all on."""
    value = os.environ.get(ENV, "on")
    if value not in MODES:
        raise SystemExit(f"{ENV} must be one of {', '.join(MODES)}, got {value!r}")
    set_rollups(value in ("on", "no-meters"))
    set_meters(value in ("on", "no-rollups"))
    return value == "on"
