"""What the store keeps of alerts besides a state: a compare-and-set write of one step, the
record of a stored transition, a page of them, and a channel's delivery health.

A rule × subject is keyed by ``AlertKey``; the subject ``RULE_SUBJECT`` ("*") is the row of
the rule itself, which holds a mute of the whole rule set by an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tickwork.domain.alert_states import AlertState, NoticeKind, Status, Transition
from tickwork.domain.jobs import NewJob
from tickwork.errors import ConfigError

RULE_SUBJECT = "*"
HISTORY_LIMIT = 500


@dataclass(frozen=True, order=True)
class AlertKey:
    rule: str
    subject: str


@dataclass(frozen=True)
class AlertWrite:
    """One step to store: ``state`` (its version one above ``transition.expected_version``)
    replaces the stored state only if that version is still stored; then, in the same
    transaction, the transition is recorded and ``jobs`` (the deliveries of its notices to
    ``channels``) are created. A stale write changes nothing and creates no job."""

    key: AlertKey
    state: AlertState
    transition: Transition
    channels: tuple[str, ...] = ()
    jobs: tuple[NewJob, ...] = ()


@dataclass(frozen=True)
class TransitionRecord:
    """A stored transition: when, from, to, why, what was sent where, and the delivery jobs."""

    id: int
    rule: str
    subject: str
    at: datetime
    from_status: Status
    to_status: Status
    why: str
    sent: tuple[NoticeKind, ...]
    channels: tuple[str, ...]
    job_ids: tuple[int, ...]
    version: int


@dataclass(frozen=True)
class TransitionQuery:
    """A page of transitions, newest first; ``before_id`` continues after a page."""

    rule: str | None = None
    subject: str | None = None
    before_id: int | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= HISTORY_LIMIT:
            raise ConfigError(f"must be from 1 to {HISTORY_LIMIT}, got {self.limit}", field="limit")


@dataclass(frozen=True)
class ChannelHealth:
    """How a channel's deliveries went: failed attempts in a row since its last success."""

    channel: str
    failures: int = 0
    last_error: str | None = None
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None
