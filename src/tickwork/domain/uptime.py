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

Replaying a week of pings costs tens of microseconds a ping, so a settled hour (one that ended
before now: no ping can change it any more) is replayed once and its seconds by status kept
(``HourFigures``, the store's ``tickwork_check_hours``); a range then replays only the hours
not kept yet, in practice the partial hours at its two ends (``replay_ranges``). Figures kept
stay as they were replayed: a later change of the check's spec, or its pings removed by
retention, does not change them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    older ones were removed), None when not counted (a finish before the range is kept: what
    came before it does not matter)."""

    earlier: Sequence[PingMark]
    during: Sequence[PingMark]
    stored: int | None


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
    lost = history.stored is not None and history.stored < check.pings
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


HOUR = timedelta(hours=1)
# How long after an hour ends it counts as settled: a ping stamped by another host's clock a
# little behind this one's still lands in the hour it belongs to before it is kept.
SETTLE_MARGIN = timedelta(minutes=1)

Totals = Mapping[CheckStatus | None, float]


@dataclass(frozen=True)
class HourFigures:
    """The seconds of each status (None: unknown) of one check in one settled hour."""

    check_uuid: str
    hour: datetime
    seconds: Totals


@dataclass(frozen=True)
class KeptHours:
    """What is kept of one check's settled hours in a range: the seconds by status they sum
    to, and the runs of consecutive hours they make (``[start, end)`` each, in order)."""

    check_uuid: str
    seconds: Totals
    runs: tuple[tuple[datetime, datetime], ...]

    def covers(self, hour: datetime) -> bool:
        return any(a <= hour < b for a, b in self.runs)


def hour_runs(hours: Iterable[datetime]) -> tuple[tuple[datetime, datetime], ...]:
    """Hours (starts) as runs of consecutive hours."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + HOUR)
        else:
            runs.append((hour, hour + HOUR))
    return tuple(runs)


def totals(spans: Iterable[Span]) -> dict[CheckStatus | None, float]:
    """Seconds by status over ``spans``."""
    found: dict[CheckStatus | None, float] = {}
    for span in spans:
        found[span.status] = found.get(span.status, 0.0) + span.seconds
    return found


def settled_hours(start: datetime, end: datetime, now: datetime) -> list[datetime]:
    """The whole UTC hours inside ``[start, end)`` that ended (with ``SETTLE_MARGIN``) by
    ``now``, in order: the hours whose figures may be kept."""
    first = _hour_of(start)
    if first < start:
        first += HOUR
    last = min(end, now - SETTLE_MARGIN)
    hours = []
    hour = first
    while hour + HOUR <= last:
        hours.append(hour)
        hour += HOUR
    return hours


def replay_ranges(
    start: datetime, end: datetime, kept: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The pieces of ``[start, end)`` left to replay when the runs of hours ``kept`` are known:
    the range without them."""
    ranges: list[tuple[datetime, datetime]] = []
    cursor = start
    for a, b in sorted(kept):
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        if cursor < a:
            ranges.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        ranges.append((cursor, end))
    return ranges


def hour_figures(
    check_uuid: str, spans: Iterable[Span], hours: Iterable[datetime]
) -> list[HourFigures]:
    """The figures of each of ``hours`` that ``spans`` cover entirely, cut from them."""
    wanted = set(hours)
    cut: dict[datetime, dict[CheckStatus | None, float]] = {}
    covered: dict[datetime, float] = {}
    for span in spans:
        at = span.start
        while at < span.end:
            hour = _hour_of(at)
            upto = min(span.end, hour + HOUR)
            if hour in wanted:
                seconds = (upto - at).total_seconds()
                figures = cut.setdefault(hour, {})
                figures[span.status] = figures.get(span.status, 0.0) + seconds
                covered[hour] = covered.get(hour, 0.0) + seconds
            at = upto
    return [
        HourFigures(check_uuid, hour, figures)
        for hour, figures in sorted(cut.items(), key=lambda item: item[0])
        if covered[hour] >= HOUR.total_seconds() - 1e-6
    ]


def uptime(check: Check, history: PingHistory, start: datetime, end: datetime) -> CheckUptime:
    """The report's line of ``check`` over ``[start, end)``; its status is the one at ``end``."""
    spans = status_spans(check, history, start, end)
    return uptime_line(check, totals(spans), spans[-1].status if spans else None, end)


def combined(
    check: Check,
    kept: KeptHours | None,
    replayed: Sequence[Span],
    settled: Sequence[datetime],
    end: datetime,
) -> tuple[CheckUptime, list[HourFigures]]:
    """``check``'s line over a range ending at ``end`` from the hours ``kept`` and the spans
    ``replayed`` of the rest (``replay_ranges``, in order), and the figures of the ``settled``
    hours the replay covered, to keep."""
    seconds = totals(replayed)
    if kept is not None:
        for status, value in kept.seconds.items():
            seconds[status] = seconds.get(status, 0.0) + value
    last = replayed[-1] if replayed else None
    status_at_end = last.status if last is not None and last.end == end else None
    new_hours = (h for h in settled if kept is None or not kept.covers(h))
    fresh = hour_figures(check.uuid, replayed, new_hours)
    return uptime_line(check, seconds, status_at_end, end), fresh


def uptime_line(
    check: Check, seconds: Totals, status_at_end: CheckStatus | None, end: datetime
) -> CheckUptime:
    """The report's line of ``check`` from its seconds by status over a range ending at
    ``end`` and its status then (None: unknown, asked of ``check_state``)."""
    up = seconds.get(CheckStatus.UP, 0.0)
    late = seconds.get(CheckStatus.LATE, 0.0)
    down = seconds.get(CheckStatus.DOWN, 0.0)
    expected = up + late + down
    return CheckUptime(
        name=check.name,
        status=(status_at_end or check_state(check, end).status).value,
        uptime=None if expected <= 0 else (up + late) / expected,
        down_seconds=down,
        up_seconds=up,
        late_seconds=late,
        paused_seconds=seconds.get(CheckStatus.PAUSED, 0.0),
        unknown_seconds=seconds.get(None, 0.0),
    )


def _hour_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def _as_new(ping: PingMark) -> NewPing:
    return NewPing(ping.kind, ping.at, exit_status=ping.exit_status, rid=ping.rid)
