"""Cron fire times around every UTC-offset change of 2025-2028, against a brute-force oracle."""

from __future__ import annotations

import itertools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tickwork.domain.schedules import parse_schedule

MINUTE = timedelta(minutes=1)
SCAN_FROM = datetime(2025, 1, 1, tzinfo=UTC)
SCAN_TO = datetime(2029, 1, 1, tzinfo=UTC)
WINDOW = timedelta(hours=6)  # fires are compared from 6 h before each transition to 6 h after
HISTORY = timedelta(hours=1)  # the oracle's clock runs this long before the window opens


@dataclass(frozen=True)
class Transition:
    zone: str
    at: datetime  # the first instant (UTC) with the new offset
    before: timedelta
    after: timedelta

    @property
    def kind(self) -> tuple[timedelta, timedelta, time]:
        """What the compared fires depend on: both offsets and the wall time of the jump.

        The schedules below have "*" day fields, so the date does not matter.
        """
        return self.before, self.after, (self.at + self.before).time()

    def __str__(self) -> str:
        return f"{self.zone} at {self.at:%Y-%m-%dT%H:%MZ} ({self.before} -> {self.after})"


def offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    value = instant.astimezone(zone).utcoffset()
    assert value is not None
    return value


def transitions(name: str) -> list[Transition]:
    """The zone's offset changes in the scan span: a daily scan, then bisection to the second.

    Two changes less than a day apart would hide each other; tz data has none in the span.
    """
    zone = ZoneInfo(name)
    found = []
    day = timedelta(days=1)
    lo, old = SCAN_FROM, offset(zone, SCAN_FROM)
    while lo < SCAN_TO:
        new = offset(zone, lo + day)
        if new != old:
            start, end = lo, lo + day
            second = timedelta(seconds=1)
            while end - start > second:
                middle = start + (end - start) // second // 2 * second  # tz data: whole seconds
                if offset(zone, middle) == old:
                    start = middle
                else:
                    end = middle
            found.append(Transition(name, end, old, new))
        lo, old = lo + day, new
    return found


def representatives() -> dict[tuple[timedelta, timedelta, time], list[Transition]]:
    """All transitions of all zones, grouped by kind.

    Only the first of each kind is compared: in the tz data of 2026, the 1608 transitions of 201
    zones fall into 55 kinds, and comparing them all would take a minute for no case the kinds
    miss.
    """
    groups: dict[tuple[timedelta, timedelta, time], list[Transition]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        for transition in transitions(name):
            groups.setdefault(transition.kind, []).append(transition)
    return groups


# --- the oracle ----------------------------------------------------------------------------
# A cron daemon watching the zone's wall clock once a minute, as Debian cron does: when the
# clock moves on by a minute every job whose fields match the reading fires; when it jumps
# forward, fixed-time jobs also fire for every reading it skipped, and wildcard-hour jobs only
# for the new reading; when it falls back, fixed-time jobs wait until the clock passes the
# highest reading it had shown, and wildcard-hour jobs go on matching every reading.


def field_values(text: str, low: int, high: int) -> set[int]:
    """The values of one cron field; only the forms this test writes (*, n, a-b, /step, lists)."""
    values: set[int] = set()
    for term in text.split(","):
        span, _, step = term.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(part) for part in span.split("-"))
        else:
            first = last = int(span)
            if step:
                last = high
        values.update(range(first, last + 1, int(step or 1)))
    return values


@dataclass(frozen=True)
class Cron:
    seconds: set[int]
    minutes: set[int]
    hours: set[int]
    fixed: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = expression.split()
        second = fields.pop(0) if len(fields) == 6 else "0"
        minute, hour, *days = fields
        assert days == ["*", "*", "*"], "the oracle only knows schedules that run every day"
        return cls(
            field_values(second, 0, 59),
            field_values(minute, 0, 59),
            field_values(hour, 0, 23),
            fixed=not minute.startswith("*") and not hour.startswith("*"),
        )

    def matches(self, reading: datetime) -> bool:
        return reading.hour in self.hours and reading.minute in self.minutes


def clock(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """(instant, wall-clock reading) for every whole UTC minute from ``start`` to ``end``."""
    ticks = []
    instant = start
    while instant <= end:
        local = instant.astimezone(zone)
        # Whole-minute offsets keep readings on whole minutes (true of every zone today).
        assert local.second == 0, f"{zone.key} has an offset with seconds"
        ticks.append((instant, local.replace(tzinfo=None)))
        instant += MINUTE
    return ticks


def oracle(cron: Cron, ticks: list[tuple[datetime, datetime]]) -> list[datetime]:
    """The fires, as UTC instants, while the clock shows ``ticks`` (the first is history)."""
    fires: list[datetime] = []
    shown = ticks[0][1]  # the highest reading so far: fixed times up to it have had their turn
    for instant, reading in ticks[1:]:
        if cron.fixed:
            due = reading > shown and any(
                cron.matches(shown + MINUTE * n) for n in range(1, (reading - shown) // MINUTE + 1)
            )
            shown = max(shown, reading)
        else:
            due = cron.matches(reading)
        if due:
            fires.extend(instant + timedelta(seconds=s) for s in sorted(cron.seconds))
    return fires


# --- the schedules -------------------------------------------------------------------------

WILDCARD_HOUR = (
    "0 * * * *",
    "0 */6 * * *",
    "*/30 * * * *",
    "15,45 * * * *",
    "*/20 30 * * * *",
    "15 0 */6 * * *",
)


def schedules_near(transition: Transition) -> list[str]:
    """Every schedule above, plus fixed daily times just before, inside and after the jump."""
    # The wall times the clock skips or repeats: from `low` up to, not including, `high`.
    at = transition.at.replace(tzinfo=None)
    low, high = sorted((at + transition.before, at + transition.after))
    middle = low + (high - low) // 2 // MINUTE * MINUTE
    walls = [low - 30 * MINUTE, low - MINUTE, low, middle, high - MINUTE, high, high + MINUTE]
    fixed = [f"{wall.minute} {wall.hour} * * *" for wall in walls]
    return [
        *WILDCARD_HOUR,
        *dict.fromkeys(fixed),  # distinct, in order
        "0 0 * * *",
        "0 0-23/6 * * *",  # same times as "0 */6 * * *", but fixed-time for Debian cron
        f"0,30 {low.minute} {low.hour} * * *",
    ]


def mismatches(transition: Transition) -> list[str]:
    """Where the schedules near ``transition`` disagree with the oracle, one line each."""
    zone = ZoneInfo(transition.zone)
    first, last = transition.at - WINDOW, transition.at + WINDOW
    ticks = clock(zone, first - HISTORY, last)
    offsets = [reading - instant.replace(tzinfo=None) for instant, reading in ticks]
    jumps = sum(a != b for a, b in itertools.pairwise(offsets))
    assert jumps == 1, f"{transition}: {jumps} offset changes in the window, expected 1"
    problems = []
    for expression in schedules_near(transition):
        expected = [f for f in oracle(Cron.parse(expression), ticks) if first < f <= last]
        schedule = parse_schedule(expression, transition.zone)
        got = list(itertools.takewhile(lambda f: f <= last, schedule.iter_after(first)))
        # Compare instants and offsets: same-zone datetimes compare by wall time, fold ignored.
        want = [(f, offset(zone, f)) for f in expected]
        have = [(f.astimezone(UTC), f.utcoffset()) for f in got]
        if have != want:
            missing = [f.astimezone(zone).isoformat() for f, _ in want if (f, _) not in have]
            extra = [f.isoformat() for f in got if (f.astimezone(UTC), f.utcoffset()) not in want]
            problems.append(f"{transition}, {expression!r}: missing {missing}, extra {extra}")
            continue
        # Resumable from each fire, and from just before it (e.g. inside a repeated hour).
        for fire, following in itertools.pairwise(expected):
            resumed = schedule.next_after(fire).astimezone(UTC)
            just_before = schedule.next_after(following - timedelta(microseconds=1))
            if resumed != following or just_before.astimezone(UTC) != following:
                problems.append(
                    f"{transition}, {expression!r}: after {fire.astimezone(zone).isoformat()} "
                    f"got {resumed.astimezone(zone).isoformat()} / "
                    f"{just_before.isoformat()}, expected {following.astimezone(zone).isoformat()}"
                )
                break
    return problems


# --- the tests -----------------------------------------------------------------------------


def test_every_kind_of_transition_matches_the_oracle() -> None:
    groups = representatives()
    # Guards against a scan that silently finds nothing (e.g. a zone database without rules).
    kinds = {(t.before - t.after, t.kind[2]) for group in groups.values() for t in group}
    assert (timedelta(minutes=30), time(2)) in kinds  # Lord Howe falls back half an hour
    assert (timedelta(hours=1), time(0)) in kinds  # midnight jumps (Santiago, Cairo, Beirut)
    assert (timedelta(hours=-2), time(1)) in kinds  # Troll springs forward two hours
    problems = [
        f"{problem} (same kind in {zones_of(group)})"
        for group in groups.values()
        for problem in mismatches(group[0])
    ]
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:20])


def zones_of(group: list[Transition]) -> str:
    zones = sorted({transition.zone for transition in group})
    more = f" and {len(zones) - 3} more" if len(zones) > 3 else ""
    return ", ".join(zones[:3]) + more


def test_the_oracle_itself_on_known_cases() -> None:
    # Hand-checked: New York 2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST.
    ny = ZoneInfo("America/New_York")
    spring = clock(ny, datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC))
    assert oracle(Cron.parse("30 2 * * *"), spring) == [datetime(2026, 3, 8, 7, tzinfo=UTC)]
    assert oracle(Cron.parse("30 * * * *"), spring) == [  # 01:30 EST, 03:30 EDT
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    ]
    fall = clock(ny, datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 7, tzinfo=UTC))
    assert oracle(Cron.parse("30 1 * * *"), fall) == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]
    assert oracle(Cron.parse("30 * * * *"), fall) == [
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    ]
    assert field_values("*/20", 0, 59) == {0, 20, 40}
    assert field_values("0-23/6", 0, 23) == field_values("*/6", 0, 23) == {0, 6, 12, 18}
    assert field_values("15,45", 0, 59) == {15, 45}
    assert field_values("5/20", 0, 59) == {5, 25, 45}
