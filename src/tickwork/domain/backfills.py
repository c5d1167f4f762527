"""Backfills: a schedule run for a past range. Which fires a range holds (the schedule's own
walk in its timezone, capped), how its jobs are released (``BackfillOverlap``), and what a
stored backfill tells of its progress.

Each fire becomes one job carrying its original fire time (``fire_at``); the store's unique
(task, fire time) pair makes each fire one job, so a backfill run twice creates nothing new and
fires that already ran on schedule are not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tickwork.domain.schedules import Schedule
from tickwork.errors import ConfigError

# Fires one backfill may create unless ``max`` says otherwise, and the most ``max`` may say.
DEFAULT_MAX_FIRES = 1000
MAX_FIRES_CEILING = 10_000
# A job of a ``queue`` backfill waits for its turn due at this time; the scheduler releases
# the next one (due now) when the backfill has no job left running, due or retrying.
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


class BackfillOverlap(StrEnum):
    """How a backfill's jobs start."""

    QUEUE = "queue"  # one at a time, in fire order (the default: it does not flood workers)
    ALLOW = "allow"  # all due at once; the task's own limits still apply at claim time


# overlap=skip keeps a task from running twice at once; a backfill wants every fire of its
# range, so it has no meaning there: refused with this reason.
SKIP_REFUSED = (
    "skip does not apply to a backfill (it wants every fire of its range, and fires that"
    " already have a job are never repeated); use queue (one at a time) or allow (all at once)"
)


def overlap_of(text: str) -> BackfillOverlap:
    """``queue`` or ``allow``; ``ConfigError`` naming ``overlap`` otherwise."""
    if text == "skip":
        raise ConfigError(SKIP_REFUSED, field="overlap")
    try:
        return BackfillOverlap(text)
    except ValueError:
        raise ConfigError(
            f"unknown overlap {text!r}: expected queue or allow", field="overlap"
        ) from None


def check_max(max_fires: int | None) -> int:
    """The cap of one backfill: ``DEFAULT_MAX_FIRES`` when not given, at most the ceiling."""
    if max_fires is None:
        return DEFAULT_MAX_FIRES
    if not 1 <= max_fires <= MAX_FIRES_CEILING:
        raise ConfigError(
            f"must be between 1 and {MAX_FIRES_CEILING:,}, got {max_fires}", field="max"
        )
    return max_fires


def check_range(start: datetime, end: datetime, now: datetime) -> None:
    """A past range, ``start`` before ``end``, both aware; ``ConfigError`` naming the edge."""
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConfigError(f"time {value.isoformat()} needs a UTC offset", field=name)
    if start >= end:
        raise ConfigError(f"{start.isoformat()} is not before to ({end.isoformat()})", field="from")
    if end > now:
        raise ConfigError(
            f"{end.isoformat()} is in the future (now {now.astimezone(UTC).isoformat()});"
            " a backfill runs past fires only",
            field="to",
        )


def fires_between(schedule: Schedule, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The fires of ``schedule`` with ``start <= fire <= end`` in order, in UTC, from its own
    walk in its timezone (daylight-saving rules included); at most ``limit + 1``, so that a
    caller can tell a range with more than ``limit`` fires."""
    fires: list[datetime] = []
    end_utc = end.astimezone(UTC)
    # iter_after is strictly after: start one microsecond early to include ``start`` itself.
    for fire in schedule.iter_after(start.astimezone(UTC) - timedelta(microseconds=1)):
        at = fire.astimezone(UTC)
        if at > end_utc or len(fires) > limit:
            break
        fires.append(at)
    return fires


# A range over the cap is refused with its number of fires, counted up to this many.
COUNT_LIMIT = 100_000


def over_cap(schedule: Schedule, task: str, start: datetime, end: datetime, cap: int) -> str:
    """Why a range with more fires than ``cap`` is refused (nothing is created): its count."""
    count = len(fires_between(schedule, start, end, COUNT_LIMIT))
    counted = f"more than {COUNT_LIMIT:,}" if count > COUNT_LIMIT else f"{count:,}"
    return (
        f"the range holds {counted} fires of {task!r}, over the cap of {cap:,}; narrow the"
        f" range or raise max (at most {MAX_FIRES_CEILING:,})"
    )


@dataclass(frozen=True)
class NewBackfill:
    """A backfill to record, with the fires it asked for."""

    task_name: str
    range_start: datetime
    range_end: datetime
    overlap: BackfillOverlap
    max_fires: int
    requested_by: str | None
    created_at: datetime
    fires: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class BackfillCounts:
    """A backfill's jobs by how far they got."""

    pending: int = 0  # waiting for their turn or a worker, or retrying
    running: int = 0
    succeeded: int = 0
    failed: int = 0  # failed or timed out
    cancelled: int = 0  # cancelled or skipped

    @property
    def total(self) -> int:
        return self.pending + self.running + self.succeeded + self.failed + self.cancelled

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.cancelled


@dataclass(frozen=True)
class Backfill:
    """A stored backfill: what was asked, what it made, and its jobs' progress."""

    id: int
    task_name: str
    range_start: datetime
    range_end: datetime
    overlap: BackfillOverlap
    max_fires: int
    fires: int  # of the range (at most ``max_fires``)
    created: int  # jobs this backfill created
    present: int  # fires that already had a job (scheduled, or an earlier backfill's)
    requested_by: str | None
    created_at: datetime
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    counts: BackfillCounts = field(default_factory=BackfillCounts)

    @property
    def state(self) -> str:
        """``cancelled``, ``done`` (no job pending or running) or ``running``."""
        if self.cancelled_at is not None:
            return "cancelled"
        if self.counts.pending == 0 and self.counts.running == 0:
            return "done"
        return "running"


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill (or its dry run) made of a range: the fires, those created and those
    that already had a job. ``backfill`` is None for a dry run or when nothing was created."""

    task_name: str
    fires: tuple[datetime, ...]
    created: int
    present: int
    dry_run: bool
    backfill: Backfill | None = None
