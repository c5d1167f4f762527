"""Why a job did or did not run around a time: its fires in a window, each with the decision
that was recorded for it (a job and its state, a missed fire and its reason, the hold of a
pending job), the definition's changes around it and its state then (disabled, paused).

Pure composition over what the store recorded (``ExplainFacts``); nothing is guessed: a fire
that has passed without a record says so, with the schedulers that were alive then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tickwork.domain.access import AuditEntry
from tickwork.domain.activity import MissedFire
from tickwork.domain.admission import Hold
from tickwork.domain.jobs import PENDING_STATES, Job, JobState
from tickwork.domain.processors import ROLE_SCHEDULER
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.report import count_fires
from tickwork.domain.schedules import Schedule
from tickwork.domain.tasks import Task

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "MAX_EXPLAINED_FIRES",
    "DefinitionChange",
    "ExplainFacts",
    "Explanation",
    "FireAnswer",
    "Outcome",
    "explain",
    "missed_reason_text",
]

# The window around the time asked about: the fires from this long before to this long after.
DEFAULT_WINDOW_SECONDS = 3600
# The fires of one window answered at most (a per-second schedule has 7,200 in two hours);
# the rest are counted.
MAX_EXPLAINED_FIRES = 200
_MICROSECOND = timedelta(microseconds=1)
# Audit entries of the definition read at most (its newest up to the window's end).
MAX_CHANGES_READ = 200

# What each missed-fire reason means, as docs/activity.md documents it. A reason without an
# entry (one added later) is shown by its name.
_REASON_TEXT: Mapping[str, str] = {
    "overlap": "an earlier job of the task was still active (overlap=skip)",
    "misfire": "it was due later than misfire_grace while a scheduler was up, and the misfire"
    " policy dropped it",
    "no_scheduler": "no scheduler was up at the fire time, and the misfire policy dropped it",
    "calendar": "it was due while its calendar was closed and an earlier fire still waited",
    "disabled": "the job was disabled at the time",
    "paused": "the job was paused, or processing was paused cluster-wide while an earlier job"
    " still waited",
}


def missed_reason_text(reason: str) -> str:
    """The documented meaning of a missed-fire reason (any reason: unknown ones by name)."""
    return _REASON_TEXT.get(reason, reason.replace("_", " "))


class Outcome(StrEnum):
    """What was recorded for one fire."""

    RAN = "ran"  # its job finished (succeeded, failed, timed out, cancelled)
    RUNNING = "running"
    PENDING = "pending"  # its job waits (not due, or held by a policy)
    SKIPPED = "skipped"  # its job was skipped (overlap, a guard)
    MISSED = "missed"  # a missed fire was recorded, with its reason
    UNRECORDED = "unrecorded"  # passed, and nothing was recorded
    NOT_YET_FIRED = "not_yet_fired"  # passed, but the scheduler has not reached it yet
    UPCOMING = "upcoming"  # in the future


@dataclass(frozen=True)
class FireAnswer:
    """One fire and what became of it."""

    fire_at: datetime  # in the schedule's zone (or UTC for a fire of an earlier schedule)
    outcome: Outcome
    summary: str  # in plain words, with until when where known
    job: Job | None = None
    hold: Hold | None = None
    missed: MissedFire | None = None
    scheduled: bool = True  # a fire of the current schedule (False: only in the records)


@dataclass(frozen=True)
class DefinitionChange:
    """One audited change of the definition or its state (``job.*`` other than triggers)."""

    at: datetime
    actor: str
    action: str
    summary: str


@dataclass(frozen=True)
class ExplainFacts:
    """What the store recorded around the window, read by the use case."""

    task: Task
    now: datetime
    at: datetime
    window: timedelta
    jobs: Sequence[Job]  # the task's jobs whose fire_at is in the window
    missed: Sequence[MissedFire]  # the task's missed fires in the window
    holds: Mapping[int, Hold]  # by job ID, of the pending ones
    changes: Sequence[AuditEntry]  # the task's job.* entries up to the window's end, any order
    processors: Sequence[ProcessorInfo]  # every registered processor
    schedule: Schedule | None = None  # None: no schedule (or one that cannot be read)


@dataclass(frozen=True)
class Explanation:
    task_name: str
    at: datetime
    start: datetime
    end: datetime
    now: datetime
    schedule: str | None
    timezone: str
    state: tuple[str, ...]  # the definition's state over the window ("disabled since ...")
    fires: tuple[FireAnswer, ...]
    more_fires: int  # fires of the window beyond MAX_EXPLAINED_FIRES, not answered
    changes: tuple[DefinitionChange, ...]  # those within the window, oldest first
    notes: tuple[str, ...] = field(default=())


def explain(facts: ExplainFacts) -> Explanation:
    """The answer for the window ``at - window`` to ``at + window``."""
    task, now = facts.task, facts.now
    start = facts.at - facts.window
    end = facts.at + facts.window
    defn = task.definition
    entries = sorted(facts.changes, key=lambda e: (e.at, e.id))
    jobs = {_utc(j.fire_at): j for j in facts.jobs if j.fire_at is not None}
    missed: dict[datetime, MissedFire] = {}
    for m in sorted(facts.missed, key=lambda m: m.id):
        missed.setdefault(_utc(m.fire_at), m)
    planned: list[datetime] = []
    more, exact = 0, True
    if facts.schedule is not None:
        for fire in facts.schedule.iter_after(start - timedelta(microseconds=1)):
            if _utc(fire) > end:
                break
            if len(planned) >= MAX_EXPLAINED_FIRES:
                # The rest are counted, not answered (by arithmetic for intervals).
                more, exact = count_fires(facts.schedule, _utc(fire), end + _MICROSECOND)
                break
            planned.append(fire)
    seen = {_utc(f) for f in planned}
    recorded = [t for t in {*jobs, *missed} if t not in seen and start <= t <= end]
    fires: list[FireAnswer] = []
    for fire in planned:
        fires.append(_answer(fire, True, jobs, missed, facts, entries))
    for when in sorted(recorded)[: max(0, MAX_EXPLAINED_FIRES - len(planned))]:
        fires.append(_answer(when, False, jobs, missed, facts, entries))
    fires.sort(key=lambda f: _utc(f.fire_at))
    notes: list[str] = []
    if defn.schedule is None:
        notes.append("it has no schedule: it runs only when triggered or enqueued")
    elif facts.schedule is None:
        notes.append(f"its schedule {defn.schedule!r} cannot be read")
    if task.removed:
        notes.append("its definition was deleted")
    if more:
        notes.append(f"{'' if exact else 'at least '}{more} more fire(s) in the window not listed")
    changes = tuple(_change(e) for e in entries if start <= e.at <= end)
    return Explanation(
        task_name=task.name,
        at=facts.at,
        start=start,
        end=end,
        now=now,
        schedule=defn.schedule,
        timezone=defn.timezone,
        state=tuple(_state(task, entries, start, end, now)),
        fires=tuple(fires),
        more_fires=more,
        changes=changes,
        notes=tuple(notes),
    )


def _answer(
    fire: datetime,
    scheduled: bool,
    jobs: Mapping[datetime, Job],
    missed: Mapping[datetime, MissedFire],
    facts: ExplainFacts,
    entries: Sequence[AuditEntry],
) -> FireAnswer:
    when = _utc(fire)
    job = jobs.get(when)
    miss = missed.get(when)
    if job is not None:
        return _job_answer(fire, job, miss, facts.holds.get(job.id), facts.now, scheduled)
    if miss is not None:
        text = f"missed ({miss.reason.value}): {missed_reason_text(miss.reason.value)}"
        if miss.detail:
            text += f"; {miss.detail}"
        return FireAnswer(fire, Outcome.MISSED, text, missed=miss, scheduled=scheduled)
    if when > facts.now:
        return FireAnswer(fire, Outcome.UPCOMING, _upcoming(facts.task, when), scheduled=scheduled)
    next_fire = facts.task.next_fire_at
    if next_fire is not None and _utc(next_fire) <= when:
        text = f"due, not fired yet: the scheduler has not reached it (next fire {_iso(next_fire)})"
        return FireAnswer(fire, Outcome.NOT_YET_FIRED, text, scheduled=scheduled)
    return FireAnswer(
        fire,
        Outcome.UNRECORDED,
        _unrecorded(when, facts.processors, entries),
        scheduled=scheduled,
    )


def _job_answer(
    fire: datetime,
    job: Job,
    miss: MissedFire | None,
    hold: Hold | None,
    now: datetime,
    scheduled: bool,
) -> FireAnswer:
    state = job.state
    if state is JobState.SKIPPED:
        why = job.last_error or (
            missed_reason_text(miss.reason.value) if miss is not None else "no reason recorded"
        )
        return FireAnswer(
            fire, Outcome.SKIPPED, f"skipped: {why}", job=job, missed=miss, scheduled=scheduled
        )
    if state is JobState.RUNNING:
        since = f" since {_iso(job.started_at)}" if job.started_at else ""
        worker = f" on {job.worker_id}" if job.worker_id else ""
        text = f"running{since}{worker} (attempt {job.attempt})"
        return FireAnswer(fire, Outcome.RUNNING, text, job=job, scheduled=scheduled)
    if state in PENDING_STATES:
        if hold is not None:
            until = f" until {_iso(hold.until)}" if hold.until else ""
            text = f"{state.value}: held by {hold.policy} ({hold.detail}){until}"
        elif _utc(job.scheduled_at) > now:
            text = f"{state.value}: not due until {_iso(job.scheduled_at)}"
        else:
            text = f"{state.value}: due since {_iso(job.scheduled_at)}, waiting for a worker"
        return FireAnswer(fire, Outcome.PENDING, text, job=job, hold=hold, scheduled=scheduled)
    text = f"ran: {state.value}"
    if job.started_at is not None:
        text += f", started {_iso(job.started_at)}"
    if job.finished_at is not None:
        text += f", finished {_iso(job.finished_at)}"
    if job.attempt > 1:
        text += f" after {job.attempt} attempts"
    if job.last_error and state is not JobState.SUCCEEDED:
        text += f": {job.last_error}"
    return FireAnswer(fire, Outcome.RAN, text, job=job, scheduled=scheduled)


def _upcoming(task: Task, when: datetime) -> str:
    if task.removed:
        return "will not fire: the definition was deleted"
    if not task.definition.enabled:
        return "will not fire while the job is disabled"
    pause = task.pause
    if pause is not None and pause.active(when):
        until = f" until {_iso(pause.until)}" if pause.until else " until resumed"
        return f"will be missed: paused by {pause.paused_by}{until} ({pause.reason})"
    return "upcoming"


def _unrecorded(
    when: datetime, processors: Sequence[ProcessorInfo], entries: Sequence[AuditEntry]
) -> str:
    text = "nothing was recorded for this fire: no scheduler fired it or recorded it as missed"
    alive = [
        p
        for p in processors
        if ROLE_SCHEDULER in p.role.split("+")
        and _utc(p.started_at) <= when
        and when <= _utc(p.stopped_at or p.heartbeat_at)
    ]
    known = [p for p in processors if ROLE_SCHEDULER in p.role.split("+")]
    if alive:
        names = ", ".join(f"{p.id} (last heartbeat {_iso(p.heartbeat_at)})" for p in alive)
        text += f"; schedulers registered as up then: {names}"
    elif known:
        text += "; no registered scheduler's heartbeats cover that time"
    else:
        text += "; no scheduler is registered (their rows may have been pruned)"
    created = next((e for e in entries if e.action in ("job.create", "job.restore")), None)
    if created is not None and created.at > when:
        text += f"; the definition was created later, {_iso(created.at)}"
    return text


def _state(
    task: Task, entries: Sequence[AuditEntry], start: datetime, end: datetime, now: datetime
) -> list[str]:
    """The definition's state over the window, from the audit log and the task row."""
    out: list[str] = []
    enabling = [e for e in entries if e.action in _ENABLING]
    last = next((e for e in reversed(enabling) if e.at <= end), None)
    if last is not None and last.action in _DISABLING:
        since = "since" if last.at <= start else "from"
        out.append(f"disabled {since} {_iso(last.at)} by {last.actor}{_rule_of(last)}")
    elif last is not None and last.at >= start:
        out.append(f"enabled again {_iso(last.at)} by {last.actor}{_rule_of(last)}")
    elif last is None and not task.definition.enabled:
        out.append("disabled (no change recorded in the audit log)")
    pausing = [e for e in entries if e.action in ("job.pause", "job.resume")]
    last = next((e for e in reversed(pausing) if e.at <= end), None)
    if last is not None and last.action == "job.pause":
        after = last.after or {}
        until = after.get("until")
        ends = f" until {until}" if until else " until resumed"
        reason = f": {after['reason']}" if after.get("reason") else ""
        out.append(f"paused {_iso(last.at)} by {last.actor}{ends}{reason}")
    elif last is not None and last.at >= start:
        out.append(f"resumed {_iso(last.at)} by {last.actor}")
    elif last is None and task.pause is not None and task.pause.active(now):
        pause = task.pause
        until = f" until {_iso(pause.until)}" if pause.until else " until resumed"
        out.append(f"paused {_iso(pause.paused_at)} by {pause.paused_by}{until}: {pause.reason}")
    return out


# The actions that turn a schedule off and on: an operator's, and auto-rescheduling's.
_DISABLING = frozenset({"job.disable", "job.auto_disable"})
_ENABLING = _DISABLING | {"job.enable", "job.auto_restore"}


def _rule_of(entry: AuditEntry) -> str:
    after = entry.after or {}
    rule = after.get("rule")
    return f" (rule {rule})" if isinstance(rule, str) else ""


def _change(entry: AuditEntry) -> DefinitionChange:
    verb = entry.action.removeprefix("job.").replace("_", " ")
    text = f"{verb} by {entry.actor}{_rule_of(entry)}"
    changed = _changed_keys(entry.before, entry.after)
    if changed:
        text += ": " + ", ".join(changed)
    return DefinitionChange(entry.at, entry.actor, entry.action, text)


def _changed_keys(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    if not before or not after:
        return []
    out: list[str] = []
    for key in sorted({*before, *after}):
        old, new = before.get(key), after.get(key)
        if old != new and not isinstance(old, dict) and not isinstance(new, dict):
            out.append(f"{key} {_short(old)} → {_short(new)}")
        elif old != new:
            out.append(f"{key} changed")
    return out


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC)


def _iso(when: datetime) -> str:
    return _utc(when).strftime("%Y-%m-%d %H:%M:%S UTC")
