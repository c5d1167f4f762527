"""Retention: how long runs, finished jobs, run events, the audit log, missed fires, rollups,
alert transitions and heartbeat checks' pings are kept, and what a pass of the pruner removed
(or would remove).

A number of days of 0 means "keep forever"; ``keep_last_runs`` 0 means "no run is kept for being
among the newest" (``keep_last_pings`` the same per check). Pending and running jobs are never
pruned, nor the runs of such a job; nor the transitions of an incident still firing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tickwork.errors import ConfigError

DAY_SECONDS = 86400.0

DEFAULT_RUNS_DAYS = 30.0
DEFAULT_KEEP_LAST_RUNS = 100
DEFAULT_EVENTS_DAYS = 14.0
DEFAULT_AUDIT_DAYS = 365.0
DEFAULT_MISSED_FIRES_DAYS = 30.0
DEFAULT_ROLLUP_MINUTES_DAYS = 2.0
DEFAULT_ROLLUP_HOURS_DAYS = 400.0
# Alert transitions: the history and the report's incidents (a quarter back, and more).
DEFAULT_ALERTS_DAYS = 180.0
# Pings: the weekly report replays a range's pings for each check's uptime; 30 days cover the
# longest range it is usually asked for, and the newest 100 stay for a check's page anyway.
DEFAULT_PINGS_DAYS = 30.0
DEFAULT_KEEP_LAST_PINGS = 100
DEFAULT_PRUNE_INTERVAL_SECONDS = 600.0
DEFAULT_PRUNE_BATCH_SIZE = 1000
MAX_PRUNE_BATCH_SIZE = 1000  # rows per transaction: a pass never holds a long transaction
DEFAULT_PRUNE_PAUSE_SECONDS = 0.05
# A batch that takes longer than this halves the next one (down to MIN_PRUNE_BATCH_SIZE), one
# much quicker doubles it (up to batch_size): on SQLite a worker's claim may wait for a batch.
DEFAULT_PRUNE_BATCH_SECONDS = 0.02
MIN_PRUNE_BATCH_SIZE = 50

# The day counts of the policy (RetentionPolicy field -> the [retention] key).
DAY_FIELDS = (
    "runs_days",
    "events_days",
    "audit_days",
    "missed_fires_days",
    "rollup_minutes_days",
    "rollup_hours_days",
    "alerts_days",
    "pings_days",
)
# The [retention] keys of the durations (RetentionPolicy field -> key).
_KEYS = {"interval_seconds": "interval", "pause_seconds": "pause", "batch_seconds": "batch_time"}
# What a task may set for itself ([retention.tasks."NAME"]).
TASK_FIELDS = ("runs_days", "keep_last_runs")


def check_days(value: object, field: str) -> float:
    """A number of days >= 0 (0: forever), as a float; ``ConfigError`` naming ``field``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(
            f"expected a number of days (0: keep forever), got {value!r}", field=field
        )
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"must be a finite number >= 0, got {value!r}", field=field)
    return float(value)


def check_count(value: object, field: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"expected an integer, got {value!r}", field=field)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"{minimum}..{maximum}"
        raise ConfigError(f"must be {bound}, got {value}", field=field)
    return value


@dataclass(frozen=True)
class TaskRetention:
    """A task's own retention of runs (and so of its finished jobs); None: the default."""

    runs_days: float | None = None
    keep_last_runs: int | None = None

    def __post_init__(self) -> None:
        if self.runs_days is not None:
            object.__setattr__(self, "runs_days", check_days(self.runs_days, "runs_days"))
        if self.keep_last_runs is not None:
            check_count(self.keep_last_runs, "keep_last_runs")


@dataclass(frozen=True)
class RetentionPolicy:
    """The ``[retention]`` table: what is kept, and how the pruner goes about it."""

    runs_days: float = DEFAULT_RUNS_DAYS
    keep_last_runs: int = DEFAULT_KEEP_LAST_RUNS
    events_days: float = DEFAULT_EVENTS_DAYS
    audit_days: float = DEFAULT_AUDIT_DAYS
    missed_fires_days: float = DEFAULT_MISSED_FIRES_DAYS
    rollup_minutes_days: float = DEFAULT_ROLLUP_MINUTES_DAYS
    rollup_hours_days: float = DEFAULT_ROLLUP_HOURS_DAYS
    alerts_days: float = DEFAULT_ALERTS_DAYS
    pings_days: float = DEFAULT_PINGS_DAYS
    keep_last_pings: int = DEFAULT_KEEP_LAST_PINGS  # per check, whatever their age
    tasks: Mapping[str, TaskRetention] = field(default_factory=dict)
    # The pruner of a worker process: every ``interval_seconds`` (0: never; `tickwork prune`
    # still works), ``batch_size`` rows per transaction, ``pause_seconds`` between them.
    interval_seconds: float = DEFAULT_PRUNE_INTERVAL_SECONDS
    batch_size: int = DEFAULT_PRUNE_BATCH_SIZE
    pause_seconds: float = DEFAULT_PRUNE_PAUSE_SECONDS
    # How long one batch should take at most (0: always ``batch_size`` rows).
    batch_seconds: float = DEFAULT_PRUNE_BATCH_SECONDS

    def __post_init__(self) -> None:
        for name in DAY_FIELDS:
            object.__setattr__(self, name, check_days(getattr(self, name), f"retention.{name}"))
        check_count(self.keep_last_runs, "retention.keep_last_runs")
        check_count(self.keep_last_pings, "retention.keep_last_pings")
        check_count(
            self.batch_size, "retention.batch_size", minimum=1, maximum=MAX_PRUNE_BATCH_SIZE
        )
        for name in ("interval_seconds", "pause_seconds", "batch_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                field = f"retention.{_KEYS.get(name, name)}"
                raise ConfigError(f"must be a duration >= 0, got {value!r}", field=field)
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "tasks", dict(self.tasks))

    def for_task(self, name: str) -> tuple[float, int]:
        """The runs' days and keep-last count of task ``name`` (its override, else the default)."""
        own = self.tasks.get(name)
        days = own.runs_days if own is not None and own.runs_days is not None else self.runs_days
        keep = (
            own.keep_last_runs
            if own is not None and own.keep_last_runs is not None
            else self.keep_last_runs
        )
        return days, keep


def cutoff(now: datetime, days: float) -> datetime | None:
    """What is older than the returned time goes; None (``days`` 0): nothing ever goes."""
    return None if days <= 0 else now - timedelta(seconds=days * DAY_SECONDS)


@dataclass(frozen=True)
class PruneReport:
    """One pass: rows removed (or, dry run, that would be) per kind, in the pruning order.

    ``skipped``: another process was pruning (PostgreSQL), so this one did nothing.
    """

    counts: dict[str, int]
    dry_run: bool = False
    skipped: bool = False
    batches: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """``runs 10, jobs 4, ...`` (kinds with nothing to prune left out), or ``nothing``."""
        parts = [f"{name} {count}" for name, count in self.counts.items() if count]
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class PruneTarget:
    """One step of a pass: the rows of one kind to remove, older than ``before``.

    ``step`` names the store's entry that removes them; ``kind`` is what the report counts them
    as. Runs and jobs go per task: ``task_name`` (one task) or ``other_than`` (every task but
    those). ``keep_last``: each owner's newest rows that stay whatever their age (pings: per
    check). A finished job stays while it has a run started at or after ``runs_from`` (None:
    while it has any run). ``events_before``: a job's run events older than this are counted
    by the events' own step, not with the job. Pings go per check: ``check_uuid``, and
    ``kept_from_id`` its oldest ping among the newest ``keep_last`` (that one and later stay).
    """

    step: str
    kind: str
    before: datetime
    task_name: str | None = None
    other_than: tuple[str, ...] = ()
    runs_from: datetime | None = None
    events_before: datetime | None = None
    keep_last: int = 0
    check_uuid: str | None = None
    kept_from_id: int | None = None
