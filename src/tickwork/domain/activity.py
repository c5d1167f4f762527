"""What a run tells while it runs (progress and events), and schedule fires that did not become
runs (missed fires, with their reason).

Pure types and limits, shared by the runtime (which records them), the store (which keeps
them) and the use cases (which list them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tickwork.errors import ConfigError

# --- run events ----------------------------------------------------------------------------------
# Rows kept per run (one attempt of a job), progress and events together; later ones are dropped
# and counted, and one last event says how many were dropped.
MAX_EVENTS_PER_RUN = 1000
# A message is cut to this many bytes of UTF-8 (with "..." at the end).
MAX_MESSAGE_BYTES = 1024
# An event's data, as compact JSON, may be at most this long; larger data is replaced by a note.
MAX_DATA_BYTES = 4096
# Progress is coalesced: at most one progress row per run per this interval, the latest wins.
PROGRESS_INTERVAL_SECONDS = 0.25
# A running attempt's output (a shell job's stdout and stderr, an isolated child's stderr) is
# written as it comes, one piece per write interval of at most this many bytes (the interval's
# tail; what was cut is said in the piece), the newest this many pieces kept; the pieces go
# when the attempt ends (its run then holds the output's tail).
OUTPUT_PIECE_BYTES = 8192
OUTPUT_PIECES_KEPT = 100


class RunEventKind(StrEnum):
    PROGRESS = "progress"  # done (of total)
    EVENT = "event"  # a message with data
    OUTPUT = "output"  # a piece of a running attempt's output (removed when it ends)


@dataclass(frozen=True)
class NewRunEvent:
    """Progress or an event of one attempt of a job, as the worker writes it."""

    job_id: int
    attempt: int
    task_name: str
    kind: RunEventKind
    at: datetime
    message: str | None = None
    done: float | None = None
    total: float | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutputTrim:
    """Keep only the newest ``keep`` output pieces of an attempt (0: none, it ended)."""

    job_id: int
    attempt: int
    keep: int


@dataclass(frozen=True)
class RunEvent:
    """A stored run event; IDs ascend in the order events were written."""

    id: int
    job_id: int
    attempt: int
    task_name: str
    kind: RunEventKind
    at: datetime
    message: str | None
    done: float | None
    total: float | None
    data: dict[str, Any] | None


@dataclass(frozen=True)
class RunEventQuery:
    """A page of run events, oldest first: of one job (and attempt), or of every job (the event
    feed) after ``after_id``; of one ``kind`` if given. ``newest_first``: the latest ones (a
    run's current progress). Pieces of output are read only when asked for by their kind or
    by ``with_output`` (the feed): they are not what a list of events means."""

    job_id: int | None = None
    attempt: int | None = None
    after_id: int | None = None
    limit: int = 100
    kind: RunEventKind | None = None
    newest_first: bool = False
    with_output: bool = False


def clean_message(message: object) -> str:
    """``message`` as text of at most ``MAX_MESSAGE_BYTES`` bytes of UTF-8."""
    text = message if isinstance(message, str) else str(message)
    text = text.replace("\x00", "\ufffd")  # PostgreSQL cannot store NUL characters
    raw = text.encode("utf-8", errors="replace")  # lone surrogates cannot be stored
    if len(raw) <= MAX_MESSAGE_BYTES:
        return raw.decode("utf-8")
    return raw[: MAX_MESSAGE_BYTES - 3].decode("utf-8", errors="ignore") + "..."


def clean_data(data: dict[str, Any]) -> dict[str, Any] | None:
    """An event's data as plain JSON (non-finite floats and other values as their text), or a
    note naming its size when it is longer than ``MAX_DATA_BYTES``; None when empty."""
    if not data:
        return None
    try:  # the common case, plain JSON: the C encoder and decoder alone
        text = json.dumps(data, allow_nan=False, separators=(",", ":"))
        constants = None
    except (TypeError, ValueError):
        text = json.dumps(data, default=str, separators=(",", ":"))
        constants = str  # NaN and Infinity become their text
    size = len(text.encode())
    if size > MAX_DATA_BYTES:
        return {"truncated": f"data of {size} bytes exceeds the {MAX_DATA_BYTES}-byte limit"}
    # NUL characters (PostgreSQL cannot store them) become U+FFFD.
    text = text.replace("\\u0000", "\\ufffd")
    plain: dict[str, Any] = json.loads(text, parse_constant=constants)
    return plain


def clean_progress(done: object, total: object) -> tuple[float, float | None]:
    """Checked progress figures: finite numbers, ``done >= 0``, ``total > 0`` if given.
    Raises TypeError or ValueError naming the problem."""
    values: list[float | None] = []
    for name, value in (("done", done), ("total", total)):
        if value is None and name == "total":
            values.append(None)
            continue
        if type(value) is bool or not isinstance(value, int | float):
            raise TypeError(f"progress({name}=...) takes a number, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"progress({name}=...) must be a finite number >= 0, got {value!r}")
        values.append(number)
    first, second = values
    assert first is not None
    return first, second


# --- missed fires --------------------------------------------------------------------------------
class MissedReason(StrEnum):
    """Why a schedule's fire did not become a run (documented in docs/activity.md)."""

    OVERLAP = "overlap"  # overlap=skip: an earlier job of the task was still active
    MISFIRE = "misfire"  # later than misfire_grace while a scheduler was up; the policy dropped it
    NO_SCHEDULER = "no_scheduler"  # no scheduler was up at the fire time; the policy dropped it
    CALENDAR = "calendar"  # due while its calendar was closed and an earlier fire still waited
    DISABLED = "disabled"  # the task was disabled at the time
    # the job was paused (``tickwork jobs pause``), or processing was paused cluster-wide and
    # an earlier job still waited (overlap=skip)
    PAUSED = "paused"
    # a ``requires`` of the job did not hold at the fire time (the text names it)
    DEPENDENCY = "dependency"


# A long gap (downtime, a long disable) is recorded as at most this many rows: the first fires
# one by one, the last row counting the rest ("and N more").
MAX_MISSED_ROWS_PER_GAP = 10
# How many fires of one gap are walked to count them at most (a per-second schedule down for a
# week has 600,000): beyond it the count says "at least".
MAX_MISSED_COUNTED = 10_000


@dataclass(frozen=True)
class NewMissedFire:
    """A fire that did not become a run. ``skipped_job``: a ``skipped`` job was written for
    this fire (overlap); the store links it by (task, fire time)."""

    task_name: str
    fire_at: datetime
    reason: MissedReason
    detail: str | None = None
    skipped_job: bool = False


@dataclass(frozen=True)
class MissedFire:
    id: int
    task_name: str
    fire_at: datetime
    reason: MissedReason
    detail: str | None
    recorded_at: datetime
    job_id: int | None


@dataclass(frozen=True)
class MissedFireQuery:
    """A page of missed fires, newest first (by id) unless ``after_id`` is given (then oldest
    first: the event feed's order)."""

    task_name: str | None = None
    since: datetime | None = None  # recorded_at >= since
    reasons: tuple[MissedReason, ...] = ()
    before_id: int | None = None
    after_id: int | None = None
    limit: int = 100
    fire_from: datetime | None = None  # fire_at >= fire_from
    fire_to: datetime | None = None  # fire_at <= fire_to


@dataclass(frozen=True)
class MissedCount:
    """Missed fires of one task for one reason, recorded since a time."""

    task_name: str
    reason: MissedReason
    count: int
    last_fire_at: datetime


def parse_reasons(
    values: list[str] | tuple[str, ...], *, field: str = "reason"
) -> tuple[MissedReason, ...]:
    """Reason names → reasons; ConfigError naming the bad one."""
    out: list[MissedReason] = []
    for value in values:
        try:
            out.append(MissedReason(value))
        except ValueError:
            known = ", ".join(r.value for r in MissedReason)
            raise ConfigError(
                f"unknown reason {value!r} (expected one of {known})", field=field
            ) from None
    return tuple(out)


def missed_between(
    task_name: str,
    first: datetime,
    next_after: Callable[[datetime], datetime],
    until: datetime,
    reason: MissedReason,
    detail: str,
    kept: frozenset[datetime] = frozenset(),
) -> tuple[NewMissedFire, ...]:
    """The fires from ``first`` (a fire) up to ``until`` that are not in ``kept`` (instants),
    as the rows of one gap: at most ``MAX_MISSED_ROWS_PER_GAP`` listed, the last one counting
    the rest ("N more", "at least N more" once ``MAX_MISSED_COUNTED`` fires were walked)."""
    listed: list[datetime] = []
    more = 0
    fire = first
    walked = 0
    while _utc(fire) <= until and walked < MAX_MISSED_COUNTED:
        if _utc(fire) not in kept:
            if len(listed) < MAX_MISSED_ROWS_PER_GAP:
                listed.append(fire)
            else:
                more += 1
        fire = next_after(fire)
        walked += 1
    at_least = _utc(fire) <= until  # stopped counting before the end of the gap
    rows = [NewMissedFire(task_name, f, reason, detail) for f in listed]
    if rows and (more or at_least):
        note = f"{'at least ' if at_least else ''}{max(more, 1)} more missed fire(s) not listed"
        rows[-1] = NewMissedFire(task_name, rows[-1].fire_at, reason, f"{detail}; {note}")
    return tuple(rows)


def _utc(when: datetime) -> datetime:
    # Fires are in the schedule's zone; compared as instants.
    return when.astimezone(UTC)
