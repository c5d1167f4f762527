"""Alert rules: what is watched, where (scope), and when a subject is in trouble.

A rule pairs a ``Condition`` (one dataclass per kind) with a ``Scope`` (global, one task, one
tag) and how its notifications go (channels, re-alert interval, flapping, maintenance windows,
a mute). Conditions are pure: ``condition.check(facts, now)`` reads the ``SubjectFacts`` the
evaluator gathered for one subject (a task, a processor, a channel, the queue) and gives an
``Observation``; ``alert_states.step`` turns observations into states and notifications.
Times are arguments, never read from a clock here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from tickwork.domain.autoschedule import Override
from tickwork.domain.checks import Check, CheckStatus, check_state
from tickwork.domain.durations import format_duration
from tickwork.domain.jobs import JobState
from tickwork.domain.maintenance import MaintenanceWindow
from tickwork.errors import ConfigError

FAILED_STATES = frozenset({JobState.FAILED.value, JobState.TIMEOUT.value})
DEFAULT_FLAP_FLIPS = 4
DEFAULT_FLAP_WINDOW_SECONDS = 1800.0
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class ScopeKind(StrEnum):
    GLOBAL = "global"
    TASK = "task"
    TAG = "tag"
    CHECK = "check"  # one heartbeat check, by name


@dataclass(frozen=True)
class Scope:
    """Which subjects a rule watches: every task, one task, or the tasks with one tag."""

    kind: ScopeKind = ScopeKind.GLOBAL
    value: str | None = None

    def __post_init__(self) -> None:
        if (self.kind is ScopeKind.GLOBAL) != (self.value is None):
            raise ConfigError(f"scope {self.kind} needs {'no' if self.value else 'a'} value")
        if self.value is not None and not self.value.strip():
            raise ConfigError(f"scope {self.kind} needs a non-empty name")

    def matches(self, task: str, tags: tuple[str, ...] = ()) -> bool:
        """Whether the task (or check) ``task`` with ``tags`` is watched."""
        if self.kind in (ScopeKind.TASK, ScopeKind.CHECK):
            return task == self.value
        if self.kind is ScopeKind.TAG:
            return self.value in tags
        return True

    def __str__(self) -> str:
        return "global" if self.value is None else f"{self.kind}:{self.value}"


class ScopeIndex:
    """The names (of tasks, or of checks) each scope watches, looked up by name or tag: the
    same answer as ``Scope.matches`` for each of them, without testing every one against
    every rule (thousands of rules over thousands of tasks make one evaluation)."""

    def __init__(self, items: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        self._names: list[str] = []
        self._known: set[str] = set()
        self._tagged: dict[str, list[str]] = {}
        for name, tags in items:
            self._names.append(name)
            self._known.add(name)
            for tag in dict.fromkeys(tags):
                self._tagged.setdefault(tag, []).append(name)

    def watched(self, scope: Scope) -> Sequence[str]:
        """The names ``scope`` matches, in the order they were given."""
        if scope.kind in (ScopeKind.TASK, ScopeKind.CHECK):
            return [scope.value] if scope.value in self._known else []
        if scope.kind is ScopeKind.TAG:
            return self._tagged.get(scope.value or "", [])
        return self._names


@dataclass(frozen=True)
class RunFact:
    """One finished run as a rule sees it."""

    status: str
    finished_at: datetime
    duration_seconds: float
    run_id: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATES


@dataclass(frozen=True)
class SubjectFacts:
    """What the evaluator read for one subject; each condition looks only at its own part."""

    subject: str
    task: str | None = None
    runs: tuple[RunFact, ...] = ()  # newest first
    running_since: datetime | None = None  # the start of a run still going
    p95_seconds: float | None = None  # of the task's recent successful runs
    batch_succeeded: int = 0  # the latest batch of jobs enqueued together
    batch_failed: int = 0
    late_fire_at: datetime | None = None  # the oldest fire due that has not started
    missed_fires: int = 0  # missed-fire records since the task last started
    heartbeat_at: datetime | None = None  # a processor's last heartbeat (None: stopped)
    oldest_due_at: datetime | None = None  # the oldest job due and not claimed
    delivery_failures: int = 0  # a channel's consecutive failed deliveries
    check: Check | None = None  # a heartbeat check as stored (its pings told)
    auto: Override | None = None  # what auto-rescheduling changed of its schedule (None: nothing)


@dataclass(frozen=True)
class Observation:
    """A rule's verdict on a subject now: breached or not, why, and what a message may show."""

    subject: str
    breached: bool
    why: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


class Facts(StrEnum):
    """The parts of ``SubjectFacts`` an evaluator reads, each in one query for every subject."""

    RUNS = "runs"  # runs, p95_seconds
    RUNNING = "running"  # running_since
    BATCH = "batch"  # batch_succeeded, batch_failed
    FIRES = "fires"  # late_fire_at, missed_fires
    PROCESSORS = "processors"  # heartbeat_at
    BACKLOG = "backlog"  # oldest_due_at
    CHANNELS = "channels"  # delivery_failures
    CHECKS = "checks"  # check
    AUTO = "auto"  # auto (auto-rescheduling's overrides)


# The runs a rate over a window looks at, at most (newest first).
RATE_RUNS = 500
# The successful runs a p95 is computed from.
P95_RUNS = 100


class Condition:
    """A rule kind; subclasses are frozen dataclasses with their parameters."""

    kind: ClassVar[str]
    # Kinds about one task may be scoped to a task or tag; the others watch the whole cluster
    # (or, for checks, the checks: all, those with a tag, or one).
    per_task: ClassVar[bool] = True
    scopes: ClassVar[frozenset[ScopeKind]] = frozenset(
        {ScopeKind.GLOBAL, ScopeKind.TASK, ScopeKind.TAG}
    )
    # What the evaluator must read for it.
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.RUNS})

    def runs_needed(self) -> int:
        """How many of a task's newest runs the check looks at (with ``Facts.RUNS``)."""
        return 1

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        """Why ``facts`` breach the condition at ``now``, or None."""
        raise NotImplementedError

    def check(self, facts: SubjectFacts, now: datetime) -> Observation:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        why = self.test(facts, now)
        details = _details(facts)
        return Observation(facts.subject, why is not None, why or "", details)


@dataclass(frozen=True)
class ConsecutiveFailures(Condition):
    kind: ClassVar[str] = "consecutive_failures"
    count: int = 3

    def __post_init__(self) -> None:
        _positive_int(self.count, "count")

    def runs_needed(self) -> int:
        return self.count

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        newest = facts.runs[: self.count]
        if len(newest) == self.count and all(run.failed for run in newest):
            return f"{self.count} consecutive failures"
        return None


@dataclass(frozen=True)
class FailureWindow(Condition):
    """At least ``failures`` of the last ``runs`` runs failed."""

    kind: ClassVar[str] = "failure_window"
    failures: int = 3
    runs: int = 10

    def __post_init__(self) -> None:
        _positive_int(self.failures, "failures")
        _positive_int(self.runs, "runs")
        if self.failures > self.runs:
            message = f"must be <= runs ({self.runs}), got {self.failures}"
            raise ConfigError(message, field="failures")

    def runs_needed(self) -> int:
        return self.runs

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        failed = sum(run.failed for run in facts.runs[: self.runs])
        if failed >= self.failures:
            return f"{failed} of the last {min(self.runs, len(facts.runs))} runs failed"
        return None


@dataclass(frozen=True)
class FailureRate(Condition):
    """More than ``rate`` of the runs that finished within ``window_seconds`` failed."""

    kind: ClassVar[str] = "failure_rate"
    rate: float = 0.5
    window_seconds: float = 3600.0
    min_runs: int = 1

    def __post_init__(self) -> None:
        if not _number(self.rate) or not 0 <= self.rate < 1:
            raise ConfigError(f"must be a number in [0, 1), got {self.rate!r}", field="rate")
        _positive_seconds(self.window_seconds, "window")
        _positive_int(self.min_runs, "min_runs")

    def runs_needed(self) -> int:
        return RATE_RUNS

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        since = now - timedelta(seconds=self.window_seconds)
        recent = [run for run in facts.runs if run.finished_at > since]
        if len(recent) < self.min_runs:
            return None
        failed = sum(run.failed for run in recent)
        if failed / len(recent) > self.rate:
            span = format_duration(self.window_seconds)
            return f"{failed} of {len(recent)} runs failed in {span} (over {self.rate:.0%})"
        return None


@dataclass(frozen=True)
class BatchFailures(Condition):
    """The latest batch has more failed jobs than succeeded ones (once ``min_finished`` ended)."""

    kind: ClassVar[str] = "batch_failures"
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.BATCH})
    min_finished: int = 1

    def __post_init__(self) -> None:
        _positive_int(self.min_finished, "min_finished")

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        done = facts.batch_succeeded + facts.batch_failed
        if done >= self.min_finished and facts.batch_failed > facts.batch_succeeded:
            return f"batch: {facts.batch_failed} failed, {facts.batch_succeeded} succeeded"
        return None


@dataclass(frozen=True)
class LongRun(Condition):
    """A run (finished last, or still going) longer than ``max_seconds`` or p95 × ``p95_factor``."""

    kind: ClassVar[str] = "long_run"
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.RUNS, Facts.RUNNING})
    max_seconds: float | None = None
    p95_factor: float | None = None

    def runs_needed(self) -> int:
        return 1 if self.p95_factor is None else P95_RUNS

    def __post_init__(self) -> None:
        if self.max_seconds is None and self.p95_factor is None:
            raise ConfigError("needs max or p95_factor (or both)", field="max")
        if self.max_seconds is not None:
            _positive_seconds(self.max_seconds, "max")
        if self.p95_factor is not None and (not _number(self.p95_factor) or self.p95_factor <= 0):
            raise ConfigError(f"must be > 0, got {self.p95_factor!r}", field="p95_factor")

    def limit(self, facts: SubjectFacts) -> float | None:
        limits = [] if self.max_seconds is None else [self.max_seconds]
        if self.p95_factor is not None and facts.p95_seconds is not None:
            limits.append(facts.p95_seconds * self.p95_factor)
        return min(limits) if limits else None

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        limit = self.limit(facts)
        if limit is None:
            return None
        if facts.running_since is not None:
            running = (now - facts.running_since).total_seconds()
            if running > limit:
                return f"running for {format_duration(running)} (limit {format_duration(limit)})"
        if facts.runs and facts.runs[0].duration_seconds > limit:
            took = format_duration(facts.runs[0].duration_seconds)
            return f"last run took {took} (limit {format_duration(limit)})"
        return None


@dataclass(frozen=True)
class Timeout(Condition):
    """The latest run timed out."""

    kind: ClassVar[str] = "timeout"

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.runs and facts.runs[0].status == JobState.TIMEOUT.value:
            return "the last run timed out"
        return None


@dataclass(frozen=True)
class MissedFire(Condition):
    """A fire did not start within ``grace_seconds``, or was recorded as missed (misfire)."""

    kind: ClassVar[str] = "missed_fire"
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.FIRES})
    grace_seconds: float = 300.0

    def __post_init__(self) -> None:
        _seconds(self.grace_seconds, "grace")

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.missed_fires:
            return f"{facts.missed_fires} missed fire(s)"
        if facts.late_fire_at is not None:
            late = (now - facts.late_fire_at).total_seconds()
            if late > self.grace_seconds:
                return f"the fire of {facts.late_fire_at:%Y-%m-%d %H:%M} UTC has not started"
        return None


@dataclass(frozen=True)
class ProcessorDown(Condition):
    """A processor that has not stopped sent no heartbeat for ``after_seconds``."""

    kind: ClassVar[str] = "processor_down"
    per_task: ClassVar[bool] = False
    scopes: ClassVar[frozenset[ScopeKind]] = frozenset({ScopeKind.GLOBAL})
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.PROCESSORS})
    after_seconds: float = 60.0

    def __post_init__(self) -> None:
        _positive_seconds(self.after_seconds, "after")

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.heartbeat_at is None:
            return None
        silent = (now - facts.heartbeat_at).total_seconds()
        if silent > self.after_seconds:
            return f"no heartbeat for {format_duration(silent)}"
        return None


@dataclass(frozen=True)
class BacklogAge(Condition):
    """The oldest due job has waited longer than ``max_age_seconds``."""

    kind: ClassVar[str] = "backlog_age"
    per_task: ClassVar[bool] = False
    scopes: ClassVar[frozenset[ScopeKind]] = frozenset({ScopeKind.GLOBAL})
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.BACKLOG})
    max_age_seconds: float = 600.0

    def __post_init__(self) -> None:
        _positive_seconds(self.max_age_seconds, "max_age")

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.oldest_due_at is None:
            return None
        waited = (now - facts.oldest_due_at).total_seconds()
        if waited > self.max_age_seconds:
            return f"the oldest due job has waited {format_duration(waited)}"
        return None


@dataclass(frozen=True)
class ChannelFailing(Condition):
    """An alert channel failed ``failures`` deliveries in a row."""

    kind: ClassVar[str] = "channel_failing"
    per_task: ClassVar[bool] = False
    scopes: ClassVar[frozenset[ScopeKind]] = frozenset({ScopeKind.GLOBAL})
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.CHANNELS})
    failures: int = 3

    def __post_init__(self) -> None:
        _positive_int(self.failures, "failures")

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.delivery_failures >= self.failures:
            return f"{facts.delivery_failures} deliveries failed in a row"
        return None


@dataclass(frozen=True)
class CheckDown(Condition):
    """A heartbeat check is down: no ping within its period and grace time, a failure
    reported, or a run started and not finished within the grace time (``domain/checks``)."""

    kind: ClassVar[str] = "check_down"
    per_task: ClassVar[bool] = False
    scopes: ClassVar[frozenset[ScopeKind]] = frozenset(
        {ScopeKind.GLOBAL, ScopeKind.TAG, ScopeKind.CHECK}
    )
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.CHECKS})

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        if facts.check is None:
            return None  # removed: resolves
        state = check_state(facts.check, now)
        return state.why if state.status is CheckStatus.DOWN else None


@dataclass(frozen=True)
class AutoDisabled(Condition):
    """Auto-rescheduling's circuit breaker took the job's schedule off (``domain/autoschedule``):
    firing while it is open or half-open, resolved when the schedule is restored or undone."""

    kind: ClassVar[str] = "auto_disabled"
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.AUTO})

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        auto = facts.auto
        if auto is None or not auto.held:
            return None
        since = "" if auto.breaker_at is None else f" since {auto.breaker_at:%Y-%m-%d %H:%M} UTC"
        return f"{auto.describe()}{since}"


@dataclass(frozen=True)
class AutoRescheduled(Condition):
    """Auto-rescheduling changed the job's schedule (every n-th fire, an offset): firing while
    the change holds, resolved when undone."""

    kind: ClassVar[str] = "auto_rescheduled"
    needs: ClassVar[frozenset[Facts]] = frozenset({Facts.AUTO})

    def test(self, facts: SubjectFacts, now: datetime) -> str | None:
        auto = facts.auto
        if auto is None or (auto.stride == 1 and auto.offset_seconds == 0):
            return None
        moved = Override(stride=auto.stride, offset_seconds=auto.offset_seconds).describe()
        since = "" if auto.changed_at is None else f" since {auto.changed_at:%Y-%m-%d %H:%M} UTC"
        return f"auto-rescheduled: {moved}{since}"


CONDITIONS: Mapping[str, type[Condition]] = {
    kind.kind: kind
    for kind in (
        ConsecutiveFailures,
        FailureWindow,
        FailureRate,
        BatchFailures,
        LongRun,
        Timeout,
        MissedFire,
        ProcessorDown,
        BacklogAge,
        ChannelFailing,
        CheckDown,
        AutoDisabled,
        AutoRescheduled,
    )
}


@dataclass(frozen=True)
class NotifyPolicy:
    """How a rule's notifications go out; what ``alert_states.step`` needs of its rule."""

    rule: str
    realert_seconds: float | None = None  # None: one notice per incident
    flap_flips: int = DEFAULT_FLAP_FLIPS  # more flips than this within the window: flapping
    flap_window_seconds: float = DEFAULT_FLAP_WINDOW_SECONDS
    maintenance: tuple[MaintenanceWindow, ...] = ()
    muted_until: datetime | None = None  # the whole rule

    def __post_init__(self) -> None:
        if self.realert_seconds is not None:
            _positive_seconds(self.realert_seconds, "realert")
        _positive_int(self.flap_flips, "flap_flips")
        _positive_seconds(self.flap_window_seconds, "flap_window")
        if self.muted_until is not None and self.muted_until.tzinfo is None:
            raise ConfigError("must be timezone-aware", field="muted_until")


@dataclass(frozen=True)
class AlertRule:
    """A named condition, where it applies and where its notifications go."""

    name: str
    condition: Condition
    scope: Scope = field(default_factory=Scope)
    channels: tuple[str, ...] = ()
    realert_seconds: float | None = None
    flap_flips: int = DEFAULT_FLAP_FLIPS
    flap_window_seconds: float = DEFAULT_FLAP_WINDOW_SECONDS
    maintenance: tuple[MaintenanceWindow, ...] = ()
    muted_until: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"expected 1-100 letters, digits or '_.:-', got {self.name!r}", field="name"
            )
        if self.scope.kind not in self.condition.scopes:
            takes = sorted(str(k) for k in self.condition.scopes - {ScopeKind.GLOBAL})
            what = f"it takes {' or '.join(takes)}" if takes else "it takes no task or tag"
            where = "checks" if Facts.CHECKS in self.condition.needs else "the cluster"
            raise ConfigError(
                f"a {self.condition.kind} rule watches {where}; {what}",
                field=str(self.scope.kind),
            )
        self.policy  # noqa: B018 - validates the notification settings now

    @property
    def policy(self) -> NotifyPolicy:
        return NotifyPolicy(
            rule=self.name,
            realert_seconds=self.realert_seconds,
            flap_flips=self.flap_flips,
            flap_window_seconds=self.flap_window_seconds,
            maintenance=self.maintenance,
            muted_until=self.muted_until,
        )


def _details(facts: SubjectFacts) -> dict[str, str]:
    details = {} if facts.task is None else {"task": facts.task}
    if facts.check is not None:
        details["check"] = facts.check.name
    if facts.runs:
        newest = facts.runs[0]
        details["status"] = newest.status
        if newest.run_id is not None:
            details["run_id"] = newest.run_id
        if newest.error:
            details["error"] = newest.error
    return details


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"expected an integer >= 1, got {value!r}", field=name)


def _seconds(value: object, name: str) -> None:
    if not _number(value) or value < 0:  # type: ignore[operator]
        raise ConfigError(f"expected a duration >= 0, got {value!r}", field=name)


def _positive_seconds(value: object, name: str) -> None:
    if not _number(value) or value <= 0:  # type: ignore[operator]
        raise ConfigError(f"expected a duration > 0, got {value!r}", field=name)
