"""The weekly report's data and the pure rules that make it from figures the use cases already
compute: per job, runs done against the fires its schedule expected (and the missed ones),
success rate and p50/p95 durations with their change against the period before; the top
failure groups; the longest incidents (an alert's firing to its recovery, paired from the
stored transitions); paused and disabled jobs; the queue's wait; heartbeat checks' uptime.

Nothing here reads a store or a clock: the range, the figures and "now" come in as arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tickwork.domain.alert_records import AlertKey, TransitionRecord
from tickwork.domain.alert_states import AlertState, Status
from tickwork.domain.schedules import IntervalSchedule, Schedule, parse_schedule
from tickwork.domain.stats import Distribution, TaskFigures

# The fires of one schedule counted at most (a per-second cron has 604,800 in a week); beyond
# it the count says "at least". Interval schedules are counted exactly by arithmetic.
MAX_FIRES_COUNTED = 20_000
TOP_FAILURES = 5
TOP_INCIDENTS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class JobLine:
    """One job's week. ``expected`` is None for a job without a schedule; ``expected_exact``
    False means counting stopped at ``MAX_FIRES_COUNTED`` (at least that many)."""

    task_name: str
    schedule: str | None
    runs: int  # every attempt that ended in the range (retries and manual runs included)
    succeeded: int
    failed: int  # failed, timed out and cancelled
    expected: int | None
    expected_exact: bool
    missed: Mapping[str, int]  # missed fires by reason
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    previous_success_rate: float | None = None
    previous_p50_seconds: float | None = None
    previous_p95_seconds: float | None = None

    @property
    def missed_total(self) -> int:
        return sum(self.missed.values())

    @property
    def p50_change(self) -> float | None:
        return relative_change(self.p50_seconds, self.previous_p50_seconds)

    @property
    def p95_change(self) -> float | None:
        return relative_change(self.p95_seconds, self.previous_p95_seconds)

    @property
    def needs_attention(self) -> bool:
        return self.failed > 0 or self.missed_total > 0


@dataclass(frozen=True)
class FailureLine:
    """A group of failed jobs with one error fingerprint (``domain/failures.py``)."""

    fingerprint: str
    error_type: str | None
    message: str
    count: int
    tasks: tuple[tuple[str, int], ...]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Incident:
    """An alert from firing to its recovery. ``started_at`` None: it was firing before the
    oldest transition kept; ``ended_at`` None: still firing at the report's end."""

    rule: str
    subject: str
    started_at: datetime | None
    ended_at: datetime | None
    why: str
    lasted_seconds: float  # within what is known: from the start (or the range's) to the end

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class PausedJob:
    task_name: str
    paused_at: datetime
    paused_by: str
    reason: str
    until: datetime | None


@dataclass(frozen=True)
class AutoDisabledJob:
    """A job whose schedule auto-rescheduling's circuit breaker holds (``domain.autoschedule``):
    since when, and whether its trial run is queued (half-open)."""

    task_name: str
    since: datetime | None
    trial_queued: bool


@dataclass(frozen=True)
class CheckUptime:
    """A heartbeat check's share of the range it was alive (``uptime`` None: nothing was
    expected), its status at the range's end and the seconds of each status in the range
    (``domain/uptime.py``); ``unknown``: before it was made, or before the pings kept."""

    name: str
    status: str
    uptime: float | None
    down_seconds: float = 0.0
    up_seconds: float = 0.0
    late_seconds: float = 0.0
    paused_seconds: float = 0.0
    unknown_seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    """The figures of ``[start, end)``, compared with ``[previous_start, start)``."""

    start: datetime
    end: datetime
    previous_start: datetime
    generated_at: datetime
    jobs: tuple[JobLine, ...]
    failures: tuple[FailureLine, ...]  # the most frequent first, at most ``TOP_FAILURES``
    failure_groups: int  # every group of the range
    failed_jobs: int  # failed jobs read for the groups
    failures_capped: bool  # more failed jobs than were read
    incidents: tuple[Incident, ...]  # the longest first, at most ``TOP_INCIDENTS``
    incident_count: int  # every incident that overlapped the range
    paused: tuple[PausedJob, ...]
    disabled: tuple[str, ...]  # scheduled jobs switched off
    queue_wait_p95_seconds: float | None
    previous_queue_wait_p95_seconds: float | None
    # Heartbeat checks; empty (and the section left out) where there are none.
    checks: tuple[CheckUptime, ...] = field(default_factory=tuple)
    auto_disabled: tuple[AutoDisabledJob, ...] = field(default_factory=tuple)

    @property
    def runs(self) -> int:
        return sum(j.runs for j in self.jobs)

    @property
    def succeeded(self) -> int:
        return sum(j.succeeded for j in self.jobs)

    @property
    def failed(self) -> int:
        return sum(j.failed for j in self.jobs)

    @property
    def success_rate(self) -> float | None:
        decided = self.succeeded + self.failed
        return None if decided == 0 else self.succeeded / decided

    @property
    def expected(self) -> int:
        return sum(j.expected or 0 for j in self.jobs)

    @property
    def missed(self) -> int:
        return sum(j.missed_total for j in self.jobs)

    @property
    def queue_wait_change(self) -> float | None:
        return relative_change(self.queue_wait_p95_seconds, self.previous_queue_wait_p95_seconds)


def relative_change(now: float | None, before: float | None) -> float | None:
    """``now`` against ``before`` as a fraction (0.25: 25 % more); None without both."""
    if now is None or before is None or before <= 0:
        return None
    return now / before - 1.0


def count_fires(
    schedule: Schedule, start: datetime, end: datetime, limit: int = MAX_FIRES_COUNTED
) -> tuple[int, bool]:
    """The fires of ``schedule`` in ``[start, end)`` and whether the count is exact (False:
    counting stopped at ``limit``). Intervals are counted by arithmetic, cron by walking."""
    if start >= end:
        return 0, True
    if isinstance(schedule, IntervalSchedule):
        # Fires at the multiples of the interval since the epoch (``IntervalSchedule``).
        step = schedule.interval // _MICROSECOND

        def multiples_before(moment: datetime) -> int:
            return -(-((moment - _EPOCH) // _MICROSECOND) // step)  # ceiling division

        return multiples_before(end) - multiples_before(start), True
    # Cron: walked day by day (UTC); a whole day's count is kept per expression, zone and day,
    # so a report counts only the part of its range no earlier report walked, and jobs sharing
    # an expression walk it once.
    total = 0
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        a, b = max(day, start), min(day + _DAY, end)
        if (a, b) == (day, day + _DAY):
            count, exact = _day_fires(schedule.expression, schedule.timezone, day, limit)
        else:
            count, exact = _walk(schedule, a, b, limit)
        total += count
        if not exact or total >= limit:
            return limit, False
        day += _DAY
    return total, True


def _walk(schedule: Schedule, start: datetime, end: datetime, limit: int) -> tuple[int, bool]:
    count = 0
    for fire in schedule.iter_after(start - _MICROSECOND):
        if fire.astimezone(UTC) >= end:
            return count, True
        count += 1
        if count >= limit:
            return count, False
    return count, True  # pragma: no cover - schedules never end


@functools.lru_cache(maxsize=50_000)
def _day_fires(expression: str, timezone: str, day: datetime, limit: int) -> tuple[int, bool]:
    return _walk(parse_schedule(expression, timezone), day, day + _DAY, limit)


def job_line(
    name: str,
    schedule: str | None,
    current: TaskFigures | None,
    previous: TaskFigures | None,
    expected: tuple[int, bool] | None,
    missed: Mapping[str, int],
) -> JobLine:
    """A job's line from its rollup figures of the range and of the period before (None: no
    runs), the fires its schedule expected (None: no schedule) and its missed fires."""
    now = current or TaskFigures(name, {}, Distribution(), Distribution())
    return JobLine(
        task_name=name,
        schedule=schedule,
        runs=now.runs,
        succeeded=now.succeeded,
        failed=now.failed,
        expected=None if expected is None else expected[0],
        expected_exact=True if expected is None else expected[1],
        missed=dict(sorted(missed.items())),
        success_rate=now.success_rate,
        p50_seconds=now.durations.quantile(0.5),
        p95_seconds=now.durations.quantile(0.95),
        previous_success_rate=None if previous is None else previous.success_rate,
        previous_p50_seconds=None if previous is None else previous.durations.quantile(0.5),
        previous_p95_seconds=None if previous is None else previous.durations.quantile(0.95),
    )


def ordered_jobs(lines: Iterable[JobLine]) -> tuple[JobLine, ...]:
    """Those needing attention (failures or missed fires) first, the lowest success rate
    first among them; then by name."""
    return tuple(
        sorted(
            lines,
            key=lambda j: (
                not j.needs_attention,
                j.success_rate if j.success_rate is not None and j.needs_attention else 2.0,
                j.task_name,
            ),
        )
    )


# --- incidents from stored transitions -------------------------------------------------------
def incidents(
    transitions: Iterable[TransitionRecord],
    states: Mapping[AlertKey, AlertState],
    start: datetime,
    end: datetime,
) -> list[Incident]:
    """The incidents that overlapped ``[start, end)``, the longest first: each subject's change
    to firing paired with its next change back to ok among ``transitions``, and the subjects
    firing now (``states``, the stored states at ``end``) as ongoing ones. Transitions that do
    not change the status (acknowledgements, mutes) are passed over. A recovery whose firing is
    older than every transition given counts from ``start`` (``started_at`` None)."""
    ordered = sorted(transitions, key=lambda t: (t.at, t.id))
    opened: dict[AlertKey, TransitionRecord] = {}
    seen: set[AlertKey] = set()
    found: list[Incident] = []
    for t in ordered:
        if t.from_status is t.to_status:
            continue
        key = AlertKey(t.rule, t.subject)
        first = key not in seen
        seen.add(key)
        if t.to_status is Status.FIRING:
            opened[key] = t
            continue
        began = opened.pop(key, None)
        if (began is not None or first) and t.at >= start:
            origin = start if began is None else began.at
            found.append(
                Incident(
                    rule=t.rule,
                    subject=t.subject,
                    started_at=None if began is None else began.at,
                    ended_at=t.at,
                    why="" if began is None else began.why,
                    lasted_seconds=max((t.at - origin).total_seconds(), 0.0),
                )
            )
    for key, state in states.items():
        if state.status is not Status.FIRING or state.changed_at is None:
            continue
        if state.changed_at >= end:
            continue
        found.append(
            Incident(
                rule=key.rule,
                subject=key.subject,
                started_at=state.changed_at,
                ended_at=None,
                why=state.why,
                lasted_seconds=max((end - state.changed_at).total_seconds(), 0.0),
            )
        )
    found.sort(key=lambda i: (-i.lasted_seconds, i.rule, i.subject))
    return found


def needs_earlier(transitions: Sequence[TransitionRecord], start: datetime) -> bool:
    """Whether a recovery in the range still lacks its firing among ``transitions`` (read
    newest first): the reader should read further back to learn when it started."""
    oldest: dict[AlertKey, TransitionRecord] = {}
    for t in transitions:
        if t.from_status is not t.to_status:
            oldest[AlertKey(t.rule, t.subject)] = t  # newest first: the last one is the oldest
    return any(t.from_status is Status.FIRING and t.at >= start for t in oldest.values())
