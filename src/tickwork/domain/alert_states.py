"""The state of one rule × subject and what it tells receivers: ``ok → firing → ok``.

``step(state, observation, now, policy)`` is the one rule for every change; it is deterministic
(times are arguments) and returns the new state, the notifications to send and the transition
record to store. Receivers are kept in step with the state whenever they may be told:

- ``firing`` once when an incident starts (not per failure), ``resolved`` once when it ends,
  with how long it lasted: the two alternate, starting with ``firing``;
- ``realert`` every ``realert_seconds`` while it stays firing, unless acknowledged;
- more than ``flap_flips`` status changes within ``flap_window_seconds``: one ``flapping``
  notice, then nothing until no change happened for a whole window; then one notice of where it
  settled, if that differs from what receivers were last told;
- nothing while the rule or subject is muted or a maintenance window is open; what changed
  meanwhile is told once it ends (a recovery in the window is a ``resolved`` after it).

The store keeps ``AlertState.version`` and writes a step's state only if the version it was
read at is still current (compare-and-set), so two evaluators never send one change twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tickwork.domain.alerts import NotifyPolicy, Observation
from tickwork.domain.durations import format_duration
from tickwork.domain.maintenance import in_any_window
from tickwork.errors import InvalidStateError


class Status(StrEnum):
    OK = "ok"
    FIRING = "firing"


class NoticeKind(StrEnum):
    FIRING = "firing"
    REALERT = "realert"
    RESOLVED = "resolved"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class AlertState:
    """What is stored per rule × subject between evaluations."""

    status: Status = Status.OK
    changed_at: datetime | None = None  # when ``status`` began
    why: str = ""  # the latest reason it is firing
    announced: bool = False  # receivers were last told it is firing
    announced_since: datetime | None = None  # the start of the incident they were told of
    last_notice_at: datetime | None = None
    flips: tuple[datetime, ...] = ()  # status changes, oldest first, within the flap window
    flapping: bool = False
    acked_by: str | None = None  # stops re-alerts until it resolves
    acked_at: datetime | None = None
    muted_until: datetime | None = None  # this subject only
    version: int = 0


@dataclass(frozen=True)
class Notification:
    """One message for the rule's channels."""

    kind: NoticeKind
    rule: str
    subject: str
    at: datetime
    why: str
    since: datetime | None = None  # when the incident started
    lasted_seconds: float | None = None  # resolved: from start to recovery
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        seconds = self.lasted_seconds
        lasted = "" if seconds is None else f" after {format_duration(seconds)}"
        return f"[{self.kind.value.upper()}] {self.rule} on {self.subject}{lasted}"


@dataclass(frozen=True)
class Transition:
    """The record of one stored change: when, from, to, why, and what was sent."""

    at: datetime
    from_status: Status
    to_status: Status
    why: str
    sent: tuple[NoticeKind, ...]
    expected_version: int  # the version the change was computed from (compare-and-set)
    version: int


@dataclass(frozen=True)
class StepResult:
    state: AlertState
    notifications: tuple[Notification, ...] = ()
    transition: Transition | None = None  # None: nothing to store


def suppressed(state: AlertState, now: datetime, policy: NotifyPolicy) -> bool:
    """Whether notifications are held now: a mute of the rule or subject, a maintenance window."""
    if policy.muted_until is not None and now < policy.muted_until:
        return True
    if state.muted_until is not None and now < state.muted_until:
        return True
    return in_any_window(policy.maintenance, now)


def step(
    state: AlertState, observation: Observation, now: datetime, policy: NotifyPolicy
) -> StepResult:
    """The state after ``observation`` at ``now``, what to send, and the record to store."""
    _aware(now)
    if (
        not observation.breached
        and state.status is Status.OK
        and not (state.announced or state.flapping)
        and len(state.flips) <= policy.flap_flips
    ):
        # Most steps of most rules: ok and staying ok, nothing to tell or to store.
        return StepResult(state)
    status = Status.FIRING if observation.breached else Status.OK
    changed = status is not state.status
    window = timedelta(seconds=policy.flap_window_seconds)
    flips = tuple(at for at in state.flips if now - at < window) + ((now,) if changed else ())
    # Only the newest flap_flips + 1 count: enough to see flapping begin, the last to see it end.
    flips = flips[-(policy.flap_flips + 1) :]
    changed_at = now if changed or state.changed_at is None else state.changed_at
    flapping = state.flapping
    why = observation.why or ("recovered" if status is Status.OK else state.why)
    record_why = why
    if not flapping and len(flips) > policy.flap_flips:
        flapping = True
        span = format_duration(policy.flap_window_seconds)
        record_why = f"flapping: {len(flips)} changes within {span}"
    elif flapping and not flips:
        flapping = False
        record_why = f"stable for {format_duration(policy.flap_window_seconds)}: {why}"
    firing = status is Status.FIRING
    acked_by, acked_at = (state.acked_by, state.acked_at) if firing else (None, None)

    # What receivers should hear now, if anything; whether they may is asked only then (the
    # steady case, most steps of most rules, stays cheap).
    kind: NoticeKind | None = None
    if flapping and not state.flapping:
        kind = NoticeKind.FLAPPING
    elif not flapping:
        if firing and not state.announced:
            kind = NoticeKind.FIRING
        elif not firing and state.announced:
            kind = NoticeKind.RESOLVED
        elif _realert_due(state, status, acked_by, now, policy):
            kind = NoticeKind.REALERT
    if kind is not None and suppressed(state, now, policy):
        kind = None

    announced, announced_since = state.announced, state.announced_since
    lasted: float | None = None
    if kind is NoticeKind.FIRING:
        announced, announced_since = True, changed_at
    elif kind is NoticeKind.RESOLVED:
        if announced_since is not None:
            lasted = (changed_at - announced_since).total_seconds()
        announced = False
    notices: tuple[Notification, ...] = ()
    if kind is not None:
        notice = Notification(
            kind=kind,
            rule=policy.rule,
            subject=observation.subject,
            at=now,
            why=record_why if kind is NoticeKind.FLAPPING else why,
            since=announced_since,
            lasted_seconds=lasted,
            details=dict(observation.details),
        )
        notices = (notice,)
    if kind is NoticeKind.RESOLVED:
        announced_since = None

    material = changed or flapping != state.flapping or bool(notices)
    if not material:
        return StepResult(state)
    new = dataclasses.replace(
        state,
        status=status,
        changed_at=changed_at,
        why=why if status is Status.FIRING else "",
        announced=announced,
        announced_since=announced_since,
        last_notice_at=now if notices else state.last_notice_at,
        flips=flips,
        flapping=flapping,
        acked_by=acked_by,
        acked_at=acked_at,
        version=state.version + 1,
    )
    return StepResult(new, notices, _record(state, new, now, record_why, notices))


def acknowledge(state: AlertState, now: datetime, by: str) -> StepResult:
    """``state`` acknowledged by ``by``: no re-alerts until it resolves. Only a firing state."""
    _aware(now)
    if state.status is not Status.FIRING:
        raise InvalidStateError("only a firing alert can be acknowledged")
    new = dataclasses.replace(state, acked_by=by, acked_at=now, version=state.version + 1)
    return StepResult(new, (), _record(state, new, now, f"acknowledged by {by}", ()))


def mute(state: AlertState, now: datetime, until: datetime | None, by: str) -> StepResult:
    """``state`` muted until ``until`` (None: unmuted); what changes meanwhile is told after."""
    _aware(now)
    if until is not None:
        _aware(until)
    new = dataclasses.replace(state, muted_until=until, version=state.version + 1)
    why = f"unmuted by {by}" if until is None else f"muted until {until.isoformat()} by {by}"
    return StepResult(new, (), _record(state, new, now, why, ()))


def _realert_due(
    state: AlertState, status: Status, acked_by: str | None, now: datetime, policy: NotifyPolicy
) -> bool:
    if status is not Status.FIRING or not state.announced or acked_by is not None:
        return False
    if policy.realert_seconds is None or state.last_notice_at is None:
        return False
    return (now - state.last_notice_at).total_seconds() >= policy.realert_seconds


def _record(
    old: AlertState, new: AlertState, now: datetime, why: str, notices: tuple[Notification, ...]
) -> Transition:
    return Transition(
        at=now,
        from_status=old.status,
        to_status=new.status,
        why=why,
        sent=tuple(n.kind for n in notices),
        expected_version=old.version,
        version=new.version,
    )


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
