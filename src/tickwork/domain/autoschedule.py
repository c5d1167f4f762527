"""Auto-rescheduling: the rules that change a job's effective schedule from its recent runs, and
the override they keep apart from the job's defined schedule.

Five rules, each on or off globally (``[autoschedule]``) and per job (``autoschedule``):

- ``keep``: at least 95 % of the last runs succeeded: the schedule stays as it is;
- ``stretch``: more than half of the last runs failed: fire every other time (stride ×2);
- ``timeouts``: timeouts are frequent (20 % of the last runs): fire less often (stride ×2);
- ``spread``: schedules pile up on the same second: a fixed offset per job
  (``domain.spread.spread_offset``) is added to each fire;
- ``breaker``: 3 failures in a row open a circuit breaker (the schedule stops firing); after a
  cool-down one trial run is queued (half-open): its success closes the breaker (the schedule
  fires again), its failure opens it again.

The ``Override`` is what the rules changed (stride, offset, the breaker's state); the defined
schedule is never rewritten, so a re-sync of ``tickwork.toml`` keeps the override and undoing
it (``Override()``) gives back the definition's schedule. Only succeeded, failed and timed-out
runs count: an ``interrupted`` run (a restart of tickwork itself) is never a failure, and a
rule counts only the runs that finished after the override last changed (fresh evidence for
each change). Pure: times are arguments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from tickwork.domain.access import NewAuditEntry
from tickwork.domain.durations import format_duration
from tickwork.domain.spread import spread_offset
from tickwork.errors import ConfigError

__all__ = [
    "ACTOR",
    "AutoSettings",
    "Breaker",
    "Change",
    "Override",
    "Rule",
    "adjusted",
    "decide",
    "job_rules",
    "pile_ups",
]

# Who the audit log names for the changes of a pass.
ACTOR = "tickwork"
# Audit actions (the explain view reads them: keep the names).
AUTO_RESCHEDULE = "job.auto_reschedule"
AUTO_DISABLE = "job.auto_disable"
AUTO_PROBE = "job.auto_probe"
AUTO_RESTORE = "job.auto_restore"
UNDO = "job.undo_reschedule"

SUCCEEDED = "succeeded"
FAILED = "failed"
TIMEOUT = "timeout"
# The run statuses the rules count; any other (interrupted, cancelled, skipped) is no evidence.
COUNTED = frozenset({SUCCEEDED, FAILED, TIMEOUT})
FAILURES = frozenset({FAILED, TIMEOUT})


class Rule(StrEnum):
    KEEP = "keep"
    STRETCH = "stretch"
    TIMEOUTS = "timeouts"
    SPREAD = "spread"
    BREAKER = "breaker"


ALL_RULES = frozenset(Rule)


class Breaker(StrEnum):
    CLOSED = "closed"  # the schedule fires
    OPEN = "open"  # auto-disabled: no fires until the cool-down is over
    HALF_OPEN = "half_open"  # one trial run queued; its outcome closes or re-opens


@dataclass(frozen=True)
class Override:
    """What auto-rescheduling changed of a job's schedule; ``Override()`` changes nothing."""

    stride: int = 1  # fires of the defined schedule per effective fire (2: every other one)
    offset_seconds: int = 0  # added to each fire
    breaker: Breaker = Breaker.CLOSED
    breaker_at: datetime | None = None  # when it opened, or when its trial run was queued
    probe_job_id: int | None = None  # the trial run's job (half-open)
    changed_at: datetime | None = None  # the last change: rules count the runs after it

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ConfigError(f"must be >= 1, got {self.stride}", field="stride")
        if self.offset_seconds < 0:
            raise ConfigError(f"must be >= 0, got {self.offset_seconds}", field="offset")

    @property
    def active(self) -> bool:
        """Whether the effective schedule differs from the defined one."""
        return self.stride != 1 or self.offset_seconds != 0 or self.breaker is not Breaker.CLOSED

    @property
    def held(self) -> bool:
        """Auto-disabled: the schedule does not fire (the breaker is open or half-open)."""
        return self.breaker is not Breaker.CLOSED

    def to_dict(self) -> dict[str, Any]:
        """The audit log's form (``before``/``after`` of a change)."""
        return {
            "stride": self.stride,
            "offset_seconds": self.offset_seconds,
            "breaker": self.breaker.value,
            "breaker_at": None if self.breaker_at is None else self.breaker_at.isoformat(),
            "probe_job_id": self.probe_job_id,
        }

    def describe(self) -> str:
        """What it changes, in words ("every 2nd fire, 42s later"); "" when nothing."""
        parts: list[str] = []
        if self.breaker is Breaker.OPEN:
            parts.append("auto-disabled (circuit breaker open)")
        elif self.breaker is Breaker.HALF_OPEN:
            parts.append("auto-disabled, one trial run queued (circuit breaker half-open)")
        if self.stride != 1:
            parts.append(f"every {_ordinal(self.stride)} fire")
        if self.offset_seconds:
            parts.append(f"{format_duration(self.offset_seconds)} later")
        return ", ".join(parts)


@dataclass(frozen=True)
class AutoSettings:
    """The ``[autoschedule]`` table: whether passes run, how often, and the rules' limits."""

    enabled: bool = False
    interval_seconds: float = 3600.0
    batch_size: int = 50  # jobs whose runs are read together
    rules: frozenset[Rule] = ALL_RULES
    window: int = 100  # the last runs looked at
    min_runs: int = 10  # fewer runs since the last change: no rule but the breaker applies
    keep_share: float = 0.95
    timeout_share: float = 0.2
    failures_in_a_row: int = 3
    cooldown_seconds: float = 3600.0
    max_stride: int = 8
    pile_up: int = 10  # this many schedules on one second: spread them

    def __post_init__(self) -> None:
        for name in ("batch_size", "window", "min_runs", "failures_in_a_row", "max_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"expected an integer >= 1, got {value!r}", field=name)
        if self.pile_up < 2:
            raise ConfigError(f"expected an integer >= 2, got {self.pile_up!r}", field="pile_up")
        for name in ("keep_share", "timeout_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"expected a share in (0, 1], got {value!r}", field=name)
        for name in ("interval_seconds", "cooldown_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError("expected a duration > 0", field=name.removesuffix("_seconds"))


def job_rules(settings: AutoSettings, switches: Mapping[str, bool]) -> frozenset[Rule]:
    """The rules that apply to a job: the global ones, each turned on or off by the job's own
    switches (``autoschedule = false`` switches every rule off)."""
    rules = set(settings.rules)
    for name, on in switches.items():
        rule = Rule(name)
        if on:
            rules.add(rule)
        else:
            rules.discard(rule)
    return frozenset(rules)


def check_switches(value: Mapping[str, object], field_name: str = "autoschedule") -> None:
    """A job's rule switches: known rule names, each true or false."""
    for name, on in value.items():
        if name not in Rule.__members__.values():
            known = ", ".join(r.value for r in Rule)
            raise ConfigError(f"unknown rule {name!r} (rules: {known})", field=field_name)
        if not isinstance(on, bool):
            raise ConfigError(f"{name}: expected true or false, got {on!r}", field=field_name)


class FinishedRun(Protocol):
    """A run as the rules see it (``domain.alerts.RunFact`` is one)."""

    @property
    def status(self) -> str: ...

    @property
    def finished_at(self) -> datetime: ...


@dataclass(frozen=True)
class Change:
    """One change a rule makes: the audit action, the rule, its evidence, before and after."""

    action: str
    rule: Rule
    evidence: str
    before: Override
    after: Override
    probe: bool = False  # queue the one trial run of a half-open breaker

    def audit_after(self) -> dict[str, Any]:
        return {"rule": self.rule.value, "evidence": self.evidence, **self.after.to_dict()}


@dataclass(frozen=True)
class OverrideWrite:
    """A changed override to store with its audit entry, if the stored one is still
    ``expected`` (compared by its ``changed_at``) and the job is not removed; the schedule's
    next fire becomes ``next_fire_at``."""

    name: str
    expected: Override
    override: Override
    next_fire_at: datetime | None
    entry: NewAuditEntry


@dataclass(frozen=True)
class Subject:
    """What a pass knows about one job for ``decide``."""

    name: str
    override: Override = field(default_factory=Override)
    rules: frozenset[Rule] = ALL_RULES
    runs: Sequence[FinishedRun] = ()  # newest first
    interval_seconds: float | None = None  # between two fires of the defined schedule
    piled_up: int = 0  # schedules firing on the same second as this one (itself included)
    pile_at: datetime | None = None  # that second
    probe_state: str | None = None  # the trial run's job state (None: not found)


def decide(subject: Subject, settings: AutoSettings, now: datetime) -> Change | None:
    """The one change the rules make to ``subject`` at ``now``, or None (at most one per pass:
    the next pass sees its effect). The breaker comes first; while it is open nothing else
    changes. Then ``spread``; then ``keep``, which when it holds stops ``stretch`` and
    ``timeouts``."""
    o = subject.override
    rules = subject.rules
    runs = _evidence(subject.runs, o.changed_at, settings.window)
    if o.breaker is not Breaker.CLOSED or Rule.BREAKER in rules:
        change = _breaker(subject, runs, settings, now)
        if change is not None or o.held:
            return change
    if Rule.SPREAD in rules and o.offset_seconds == 0 and subject.piled_up >= settings.pile_up:
        offset = spread_offset(subject.name, subject.interval_seconds or 0)
        if offset > 0:
            at = "" if subject.pile_at is None else f" at {subject.pile_at:%H:%M:%S} UTC"
            return _change(
                AUTO_RESCHEDULE,
                Rule.SPREAD,
                f"{subject.piled_up} schedules fire on the same second{at}",
                o,
                now,
                offset_seconds=offset,
            )
    if len(runs) < settings.min_runs:
        return None
    succeeded = sum(run.status == SUCCEEDED for run in runs)
    if Rule.KEEP in rules and succeeded >= settings.keep_share * len(runs):
        return None
    if o.stride * 2 > settings.max_stride:
        return None
    failed = sum(run.status in FAILURES for run in runs)
    if Rule.STRETCH in rules and failed * 2 > len(runs):
        evidence = f"{failed} of the last {len(runs)} runs failed"
        return _change(AUTO_RESCHEDULE, Rule.STRETCH, evidence, o, now, stride=o.stride * 2)
    timeouts = sum(run.status == TIMEOUT for run in runs)
    if Rule.TIMEOUTS in rules and timeouts > 0 and timeouts >= settings.timeout_share * len(runs):
        evidence = f"{timeouts} of the last {len(runs)} runs timed out"
        return _change(AUTO_RESCHEDULE, Rule.TIMEOUTS, evidence, o, now, stride=o.stride * 2)
    return None


def _breaker(
    subject: Subject, runs: Sequence[FinishedRun], settings: AutoSettings, now: datetime
) -> Change | None:
    o = subject.override
    if Rule.BREAKER not in subject.rules:  # switched off while open: the schedule comes back
        return _restore(o, now, "the breaker rule was switched off")
    if o.breaker is Breaker.CLOSED:
        n = settings.failures_in_a_row
        newest = runs[:n]
        if len(newest) == n and all(run.status in FAILURES for run in newest):
            return _change(
                AUTO_DISABLE,
                Rule.BREAKER,
                f"{n} consecutive failures",
                o,
                now,
                breaker=Breaker.OPEN,
                breaker_at=now,
            )
        return None
    if o.breaker is Breaker.OPEN:
        opened = o.breaker_at or now
        if (now - opened).total_seconds() < settings.cooldown_seconds:
            return None
        cooled = format_duration(settings.cooldown_seconds)
        return Change(
            AUTO_PROBE,
            Rule.BREAKER,
            f"cool-down of {cooled} over: one trial run",
            o,
            replace(o, breaker=Breaker.HALF_OPEN, breaker_at=now, changed_at=now),
            probe=True,
        )
    state = subject.probe_state
    if state == SUCCEEDED:
        return _restore(o, now, "the trial run succeeded")
    if state is not None and state not in _TERMINAL:
        return None  # still pending or running
    evidence = "the trial run's job is gone" if state is None else f"the trial run ended {state}"
    return _change(
        AUTO_DISABLE, Rule.BREAKER, evidence, o, now, breaker=Breaker.OPEN, breaker_at=now
    )


_TERMINAL = frozenset({SUCCEEDED, FAILED, TIMEOUT, "cancelled", "skipped"})


def _restore(o: Override, now: datetime, evidence: str) -> Change:
    return _change(
        AUTO_RESTORE,
        Rule.BREAKER,
        evidence,
        o,
        now,
        breaker=Breaker.CLOSED,
        breaker_at=None,
        probe_job_id=None,
    )


def _change(
    action: str, rule: Rule, evidence: str, before: Override, now: datetime, **after: Any
) -> Change:
    return Change(action, rule, evidence, before, replace(before, changed_at=now, **after))


def _evidence(
    runs: Iterable[FinishedRun], since: datetime | None, window: int
) -> list[FinishedRun]:
    """The newest ``window`` counted runs that finished after ``since``."""
    out: list[FinishedRun] = []
    for run in runs:
        if run.status not in COUNTED or (since is not None and run.finished_at <= since):
            continue
        out.append(run)
        if len(out) == window:
            break
    return out


def pile_ups(next_fires: Mapping[str, datetime | None]) -> dict[str, tuple[int, datetime]]:
    """Per job, how many schedules fire on the same second as it (itself included) and that
    second (UTC)."""
    second = {
        name: at.astimezone(UTC).replace(microsecond=0)
        for name, at in next_fires.items()
        if at is not None
    }
    counts = Counter(second.values())
    return {name: (counts[at], at) for name, at in second.items()}


def adjusted(
    next_after: Callable[[datetime], datetime], stride: int, offset_seconds: int
) -> Callable[[datetime], datetime]:
    """The effective schedule's ``next_after``: every ``stride``-th fire of the defined one,
    each ``offset_seconds`` later. The defined ``next_after`` itself when nothing changes."""
    if stride == 1 and offset_seconds == 0:
        return next_after
    shift = timedelta(seconds=offset_seconds)

    def effective(after: datetime) -> datetime:
        at = after.astimezone(UTC) - shift
        for _ in range(stride):
            at = next_after(at)
        return at.astimezone(UTC) + shift

    return effective


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
