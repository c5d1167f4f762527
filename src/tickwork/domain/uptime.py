"""A heartbeat check's uptime over a range, from its stored pings.

The store keeps pings, not status changes, so the status over time is replayed: the pings are
applied in order by ``domain.checks.receive`` and, between two pings, the status at each moment
is ``domain.checks.check_state`` (the one rule the alert evaluator uses too). Between pings the
status can change only where ``check_state`` compares ``now``: the next expected time, that
time plus the grace, and a start's time plus the grace, so it is asked once per such piece.

What counts:

- ``up`` and ``late`` (within the grace the operator allowed) are time it was alive; ``down``
  is not; ``uptime`` is (up + late) / (up + late + down), None when nothing was expected;
- ``new`` (before its first finish) and ``paused`` expect nothing and are left out of it, and
  so is time before the check was made or before the oldest ping kept (``unknown``: pings
  that retention removed cannot be replayed);
- a pause is known only while it lasts: the check's row holds when the current one began (a
  ping ends a pause, so no ping of the range can follow it); pauses that ended already are
  counted by what the pings say. The check's spec is today's for the whole range.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork.domain.checks import (
    FINISHES,
    Check,
    CheckStatus,
    NewPing,
    PingKind,
    check_state,
    due_at,
    receive,
)
from tickwork.domain.report import CheckUptime


@dataclass(frozen=True)
class PingMark:
    """What the replay reads of a stored ping (never its body)."""

    id: int
    kind: PingKind
    at: datetime
    exit_status: int | None = None
    rid: str | None = None


@dataclass(frozen=True)
class PingHistory:
    """What the store read of one check's pings for ``[start, end)``: ``earlier``, its last
    finish and its last start before ``start`` (at most one of each); ``during``, its pings of
    the range; ``stored``, how many pings of it are kept in all (fewer than ``Check.pings``:
    older ones were removed)."""

    earlier: Sequence[PingMark]
    during: Sequence[PingMark]
    stored: int


@dataclass(frozen=True)
class Span:
    status: CheckStatus | None  # None: unknown (before the check, or pings removed)
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _blank(check: Check) -> Check:
    """``check`` as it was made: its spec, none of its pings' effects."""
    return dataclasses.replace(
        check,
        paused_at=None,
        last_ping_at=None,
        last_ping_kind=None,
        last_outcome=None,
        last_outcome_at=None,
        last_exit_status=None,
        started_at=None,
        start_rid=None,
        last_duration_seconds=None,
        pings=0,
    )


def _pieces(check: Check, start: datetime, end: datetime) -> list[Span]:
    """The status of ``check`` (no ping coming) over ``[start, end)``, piece by piece."""
    grace = timedelta(seconds=check.grace_seconds)
    edges = {start, end}
    due = due_at(check)
    for edge in (
        due,
        None if due is None else due + grace,
        None if check.started_at is None else check.started_at + grace,
    ):
        if edge is not None and start < edge < end:
            edges.add(edge)
    ordered = sorted(edges)
    return [Span(check_state(check, a).status, a, b) for a, b in itertools.pairwise(ordered)]


def status_spans(check: Check, history: PingHistory, start: datetime, end: datetime) -> list[Span]:
    """``check``'s status over ``[start, end)`` from ``history`` (neighbours of one status
    joined). ``check`` is the stored one now: its spec, creation and current pause are used."""
    if start >= end:
        return []
    state = _blank(check)
    for ping in sorted(history.earlier, key=lambda p: (p.at, p.id)):
        state = receive(state, _as_new(ping)).check
    during = sorted((p for p in history.during if start <= p.at < end), key=lambda p: (p.at, p.id))
    lost = history.stored < check.pings
    # Known from the check's creation, unless pings were removed: then from the range's start
    # if a finish before it was kept (every later ping is kept too), else from the first finish.
    known_from = max(start, check.created_at)
    if lost and not any(p.kind in FINISHES for p in history.earlier):
        first = next((p.at for p in during if p.kind in FINISHES), end)
        known_from = max(known_from, first)
    spans: list[Span] = [Span(None, start, known_from)] if known_from > start else []
    cursor = start
    for ping in during:
        if max(cursor, known_from) < ping.at:
            spans += _pieces(state, max(cursor, known_from), ping.at)
        state = receive(state, _as_new(ping)).check
        cursor = ping.at
    if max(cursor, known_from) < end:
        spans += _pieces(state, max(cursor, known_from), end)
    if check.paused_at is not None and check.paused_at < end:
        spans = _paused_from(spans, max(check.paused_at, start), end)
    return _joined(spans)


def _paused_from(spans: list[Span], at: datetime, end: datetime) -> list[Span]:
    kept = [Span(s.status, s.start, min(s.end, at)) for s in spans if s.start < at]
    return [*kept, Span(CheckStatus.PAUSED, at, end)]


def _joined(spans: list[Span]) -> list[Span]:
    joined: list[Span] = []
    for span in spans:
        if span.start >= span.end:
            continue
        if joined and joined[-1].status is span.status and joined[-1].end == span.start:
            joined[-1] = Span(span.status, joined[-1].start, span.end)
        else:
            joined.append(span)
    return joined


def uptime(check: Check, history: PingHistory, start: datetime, end: datetime) -> CheckUptime:
    """The report's line of ``check`` over ``[start, end)``; its status is the one at ``end``."""
    totals: dict[CheckStatus | None, float] = {}
    spans = status_spans(check, history, start, end)
    for span in spans:
        totals[span.status] = totals.get(span.status, 0.0) + span.seconds
    last = spans[-1].status if spans else None
    up = totals.get(CheckStatus.UP, 0.0)
    late = totals.get(CheckStatus.LATE, 0.0)
    down = totals.get(CheckStatus.DOWN, 0.0)
    expected = up + late + down
    return CheckUptime(
        name=check.name,
        status=(last or check_state(check, end).status).value,
        uptime=None if expected <= 0 else (up + late) / expected,
        down_seconds=down,
        up_seconds=up,
        late_seconds=late,
        paused_seconds=totals.get(CheckStatus.PAUSED, 0.0),
        unknown_seconds=totals.get(None, 0.0),
    )


def _as_new(ping: PingMark) -> NewPing:
    return NewPing(ping.kind, ping.at, exit_status=ping.exit_status, rid=ping.rid)
