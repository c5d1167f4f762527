"""The load preview: a window's expected starts and concurrency per minute across schedules,
from their fire times and each job's p95 duration; the peak minutes, the jobs whose p95 exceeds
their interval, and, for schedules that pile up on the same second, the offsets of
``domain.spread`` and the peak they would give.

Counting is arithmetic where it can be: an interval schedule (fires at the multiples of its
interval since the epoch) is counted per minute by division, a cron schedule by its minutes of
the day on each day its day fields match (a bounded walk of days), placed on the UTC time line
with the day's offset; only a day on which the zone's offset changes is walked fire by fire.
Identical schedules (same expression, zone, duration and offset) are counted once.

Concurrency of a minute: the runs in progress at some moment of it (started in it, or earlier
and, by their p95 duration, not finished when it began). A job without runs counts for its
start minute only. Runs started before the window are not counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from cronsim import CronSim

from tickwork.domain.schedules import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    cron_times_of_day,
    load_timezone,
)
from tickwork.domain.spread import spread_offset

__all__ = [
    "LoadInput",
    "LoadProfile",
    "LoadReport",
    "LongRun",
    "PeakMinute",
    "PileUp",
    "SpreadProposal",
    "interval_of",
    "load_report",
    "simulate",
]

DEFAULT_DAYS = 7
MAX_DAYS = 31
# Peak minutes listed (by starts, then by concurrency).
PEAKS = 10
# Schedules starting on the same second in a peak minute that count as piling up, looked
# for in this many of the peak minutes.
PILE_UP_MIN = 2
PILE_UP_PEAKS = 3
_MINUTE = 60
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class LoadInput:
    """One enabled schedule: its job, its fires, its p95 duration (None: no runs yet) and an
    offset in whole seconds added to every fire (a proposal being tried)."""

    name: str
    schedule: Schedule
    p95_seconds: float | None = None
    offset_seconds: int = 0


@dataclass(frozen=True)
class LoadProfile:
    """Starts and concurrency per minute from ``start`` (a whole UTC minute)."""

    start: datetime
    starts: list[int]
    concurrency: list[int]

    @property
    def minutes(self) -> int:
        return len(self.starts)

    def minute(self, index: int) -> datetime:
        return self.start + timedelta(minutes=index)

    @property
    def peak_starts(self) -> int:
        return max(self.starts, default=0)

    @property
    def peak_concurrency(self) -> int:
        return max(self.concurrency, default=0)

    @property
    def total_starts(self) -> int:
        return sum(self.starts)

    def plus(self, other: LoadProfile, sign: int = 1) -> LoadProfile:
        """The counts of both (counts add up: the profile of both sets of schedules)."""
        return LoadProfile(
            self.start,
            [a + sign * b for a, b in zip(self.starts, other.starts, strict=True)],
            [a + sign * b for a, b in zip(self.concurrency, other.concurrency, strict=True)],
        )

    def minus(self, other: LoadProfile) -> LoadProfile:
        return self.plus(other, -1)


@dataclass(frozen=True)
class PeakMinute:
    at: datetime
    starts: int
    concurrency: int


@dataclass(frozen=True)
class LongRun:
    """A job whose p95 duration exceeds its interval: its runs overlap (or queue, or skip)."""

    name: str
    p95_seconds: float
    interval_seconds: float


@dataclass(frozen=True)
class PileUp:
    """Schedules whose fires start on the same second (in a peak minute)."""

    at: datetime
    names: tuple[str, ...]


@dataclass(frozen=True)
class SpreadProposal:
    name: str
    interval_seconds: float
    offset_seconds: int  # ``domain.spread.spread_offset(name, interval_seconds)``


@dataclass(frozen=True)
class LoadReport:
    start: datetime
    days: int
    schedules: int
    profile: LoadProfile
    peaks: tuple[PeakMinute, ...]
    long_runs: tuple[LongRun, ...]
    pile_ups: tuple[PileUp, ...]
    proposals: tuple[SpreadProposal, ...]
    spread_profile: LoadProfile | None  # the profile with the proposed offsets applied
    no_duration: tuple[str, ...] = field(default=())  # jobs without runs: start minute only


def interval_of(schedule: Schedule, after: datetime, walk: int = 5) -> float:
    """A schedule's interval in seconds: an interval's own, or a cron schedule's shortest gap
    between its first ``walk`` fires after ``after`` (a bounded walk)."""
    if isinstance(schedule, IntervalSchedule):
        return schedule.interval.total_seconds()
    gaps: list[float] = []
    previous: datetime | None = None
    for count, fire in enumerate(schedule.iter_after(after)):
        if previous is not None:
            gaps.append((fire - previous).total_seconds())
        previous = fire
        if count >= walk:
            break
    return min(gaps, default=0.0)


def simulate(inputs: Iterable[LoadInput], start: datetime, minutes: int) -> LoadProfile:
    """Starts and concurrency per minute over ``minutes`` from ``start`` (floored to a whole
    UTC minute) for ``inputs``."""
    start = _floor_minute(start)
    counter = _Counter(start, minutes)
    groups: Counter[tuple[str, str, float, int]] = Counter()
    kept: dict[tuple[str, str, float, int], Schedule] = {}
    for item in inputs:
        key = (
            item.schedule.expression,
            item.schedule.timezone,
            item.p95_seconds or 0.0,
            item.offset_seconds,
        )
        groups[key] += 1
        kept[key] = item.schedule
    for key, count in groups.items():
        counter.add_schedule(kept[key], key[2], key[3], count)
    return counter.profile()


class _Counter:
    """The counts of one window. A schedule whose fires repeat day after day (a cron schedule
    on its matching days, an interval that divides a day) adds a day's template once; the
    templates of the same days are summed and laid on each day once. Anything else (a day on
    which the clocks change, an interval that does not divide a day) is added fire by fire."""

    def __init__(self, start: datetime, minutes: int) -> None:
        self.start = start
        self.minutes = minutes
        self.base = int((start - _EPOCH).total_seconds())  # epoch seconds
        self.starts = [0] * minutes
        # Concurrency as a difference array: +n in a run's first minute, -n after its last.
        self.diff = [0] * (minutes + 1)
        # Per set of days (their first minutes, relative to the window): starts and diff by
        # minute of the day.
        self.templates: dict[tuple[int, ...], tuple[Counter[int], Counter[int]]] = {}
        # Per set of days and times of the day (cron schedules): runs by minute shift.
        self.shifts: dict[
            tuple[tuple[int, ...], tuple[int, ...]], tuple[Counter[int], Counter[int]]
        ] = {}
        # The matching days of each cron schedule's day fields and zone, walked once.
        self._days: dict[tuple[str, str], tuple[tuple[int, ...], tuple[datetime, ...]]] = {}

    def add_schedule(self, schedule: Schedule, duration: float, offset: int, count: int) -> None:
        if isinstance(schedule, CronSchedule):
            self._cron(schedule, duration, offset, count)
        elif isinstance(schedule, IntervalSchedule):
            self._interval(schedule, duration, offset, count)
        else:  # pragma: no cover - every schedule is one of the two
            fires = schedule.iter_after(self.start - timedelta(days=1))
            self._fires(fires, duration, offset, count)

    def _shifts(
        self, days: tuple[int, ...], times: tuple[int, ...]
    ) -> tuple[Counter[int], Counter[int]]:
        found = self.shifts.get((days, times))
        if found is None:
            found = self.shifts[(days, times)] = (Counter(), Counter())
        return found

    def profile(self) -> LoadProfile:
        for (days, times), (starts_s, diff_s) in self.shifts.items():
            starts_t, diff_t = self._template(days)
            for shift, n in starts_s.items():
                for minute in times:
                    starts_t[minute + shift] += n
            for shift, n in diff_s.items():
                if n:
                    for minute in times:
                        diff_t[minute + shift] += n
        for days, (starts_t, diff_t) in self.templates.items():
            for day in days:
                for minute, n in starts_t.items():
                    index = day + minute
                    if 0 <= index < self.minutes:
                        self.starts[index] += n
                for minute, n in diff_t.items():
                    self.diff[min(max(day + minute, 0), self.minutes)] += n
        concurrency = [0] * self.minutes
        running = 0
        for index in range(self.minutes):
            running += self.diff[index]
            concurrency[index] = running
        return LoadProfile(self.start, self.starts, concurrency)

    def _template(self, days: tuple[int, ...]) -> tuple[Counter[int], Counter[int]]:
        found = self.templates.get(days)
        if found is None:
            found = self.templates[days] = (Counter(), Counter())
        return found

    def _cron(self, schedule: CronSchedule, duration: float, offset: int, count: int) -> None:
        tz = load_timezone(schedule.timezone)
        day_fields = " ".join(schedule.cron.split(" ")[2:])
        key = (day_fields, schedule.timezone)
        found = self._days.get(key)
        if found is None:
            found = self._days[key] = self._matching_days(day_fields, tz)
        days, changing = found
        for midnight in changing:
            # The clocks change this day: its fires one by one, as the scheduler fires them.
            next_midnight = (midnight.replace(tzinfo=None) + _DAY).replace(tzinfo=tz)
            fires: list[datetime] = []
            for fire in schedule.iter_after(midnight - timedelta(microseconds=1)):
                if fire >= next_midnight:
                    break
                fires.append(fire)
            self._fires(fires, duration, offset, count)
        if not days:
            return
        # Every fire of a matching day is a minute of its times of the day, shifted by the
        # same few seconds: the shifts are kept per set of times and laid out once.
        starts_s, diff_s = self._shifts(days, cron_times_of_day(schedule))
        for second in schedule.seconds:
            _run(second + offset, duration, count, starts_s, diff_s)

    def _matching_days(
        self, day_fields: str, tz: tzinfo
    ) -> tuple[tuple[int, ...], tuple[datetime, ...]]:
        """The days around the window that the day fields match (a bounded walk of days): the
        first minutes of those with one UTC offset all day, and the local midnights of those
        on which the clocks change."""
        end = self.start + timedelta(minutes=self.minutes)
        first_day = self.start.astimezone(tz).date() - _DAY - _DAY
        last_day = end.astimezone(tz).date()
        walk_from = datetime.combine(first_day, datetime.min.time()) - timedelta(seconds=1)
        days: list[int] = []
        changing: list[datetime] = []
        for day in CronSim(f"0 0 {day_fields}", walk_from):
            if day.date() > last_day:
                break
            midnight = day.replace(tzinfo=tz)
            next_midnight = (day + _DAY).replace(tzinfo=tz)
            day_start = int((midnight - _EPOCH).total_seconds()) - self.base
            if midnight.utcoffset() != next_midnight.utcoffset() or day_start % _MINUTE:
                changing.append(midnight)
            else:
                days.append(day_start // _MINUTE)
        return tuple(days), tuple(changing)

    def _interval(
        self, schedule: IntervalSchedule, duration: float, offset: int, count: int
    ) -> None:
        step = schedule.interval // timedelta(microseconds=1)
        day_us = 86_400 * _US
        if day_us % step:
            # Not the same every day: fire by fire from a day before the window.
            first = self.start - timedelta(days=1)
            self._fires(schedule.iter_after(first), duration, offset, count)
            return
        # The same every UTC day (fires at multiples of the interval since the epoch).
        first_day = (self.base // 86_400 - 1) * 86_400 - self.base
        days = tuple((first_day + n * 86_400) // _MINUTE for n in range(self.minutes // 1440 + 3))
        starts_t, diff_t = self._template(days)
        if step >= _MINUTE * _US:
            for tick in range(0, day_us, step):
                _run(tick // _US + offset, duration + (tick % _US) / _US, count, starts_t, diff_t)
            return
        # Several fires a minute: counted per minute by division (fires before t: ceil(t/step)).
        shift = offset * _US

        def before(moment_us: int) -> int:
            return -(-(moment_us - shift) // step)

        span_us = round(duration * _US)
        for minute in range(1440):
            lo = minute * _MINUTE * _US
            hi = lo + _MINUTE * _US
            started = before(hi) - before(lo)
            starts_t[minute] += started * count
            # In progress during the minute: fires in (lo - duration, hi).
            active = before(hi) - before(lo - span_us + 1) if span_us > 0 else started
            diff_t[minute] += active * count
            diff_t[minute + 1] -= active * count

    def _fires(self, fires: Iterable[datetime], duration: float, offset: int, count: int) -> None:
        end = self.minutes * _MINUTE
        starts: Counter[int] = Counter()
        diff: Counter[int] = Counter()
        for fire in fires:
            second = int((fire.astimezone(UTC) - _EPOCH).total_seconds()) - self.base + offset
            if second >= end:
                break
            _run(second, duration, count, starts, diff)
        for minute, n in starts.items():
            if 0 <= minute < self.minutes:
                self.starts[minute] += n
        for minute, n in diff.items():
            self.diff[min(max(minute, 0), self.minutes)] += n


def _run(
    second: int, duration: float, count: int, starts: Counter[int], diff: Counter[int]
) -> None:
    """``count`` runs starting ``second`` seconds after a reference minute, lasting
    ``duration``: their start minute, and the minutes they are in progress."""
    first = second // _MINUTE
    starts[first] += count
    diff[first] += count
    # The minute holding a run's last instant (a run ending on a minute's start is not in it).
    if duration > 0:
        last = -(-(second + duration) // _MINUTE) - 1
        diff[int(last) + 1 if last > first else first + 1] -= count
    else:
        diff[first + 1] -= count


def load_report(
    inputs: Sequence[LoadInput], start: datetime, days: int = DEFAULT_DAYS, peaks: int = PEAKS
) -> LoadReport:
    """The load preview of ``inputs`` over ``days`` from the first whole minute at or after
    ``start`` (a fire earlier in the current minute is past: never counted)."""
    floored = _floor_minute(start)
    start = floored if floored == start else floored + timedelta(minutes=1)
    minutes = days * 1440
    profile = simulate(inputs, start, minutes)
    top = _peaks(profile, peaks)
    kept: dict[tuple[str, str], float] = {}  # identical schedules: one walk
    for i in inputs:
        key = (i.schedule.expression, i.schedule.timezone)
        if key not in kept:
            kept[key] = interval_of(i.schedule, start)
    intervals = {i.name: kept[(i.schedule.expression, i.schedule.timezone)] for i in inputs}
    long_runs = tuple(
        LongRun(i.name, i.p95_seconds, intervals[i.name])
        for i in sorted(inputs, key=lambda i: i.name)
        if i.p95_seconds is not None and 0 < intervals[i.name] < i.p95_seconds
    )
    pile_ups = _pile_ups(inputs, profile, top)
    proposals: list[SpreadProposal] = []
    offsets: dict[str, int] = {}
    for name in sorted({n for p in pile_ups for n in p.names}):
        offset = spread_offset(name, intervals[name])
        proposals.append(SpreadProposal(name, intervals[name], offset))
        offsets[name] = offset
    spread = None
    if proposals:
        # Only the moved schedules are counted again: the others' counts are the same.
        moved = [i for i in inputs if offsets.get(i.name)]
        shifted = [
            LoadInput(i.name, i.schedule, i.p95_seconds, i.offset_seconds + offsets[i.name])
            for i in moved
        ]
        spread = profile.plus(simulate(shifted, start, minutes)).minus(
            simulate(moved, start, minutes)
        )
    return LoadReport(
        start=start,
        days=days,
        schedules=len(inputs),
        profile=profile,
        peaks=tuple(
            PeakMinute(profile.minute(m), profile.starts[m], profile.concurrency[m]) for m in top
        ),
        long_runs=long_runs,
        pile_ups=pile_ups,
        proposals=tuple(proposals),
        spread_profile=spread,
        no_duration=tuple(sorted(i.name for i in inputs if i.p95_seconds is None)),
    )


def _peaks(profile: LoadProfile, count: int) -> list[int]:
    """The minutes with the most starts (then the highest concurrency, then the earliest)."""
    order = sorted(
        (m for m in range(profile.minutes) if profile.starts[m]),
        key=lambda m: (-profile.starts[m], -profile.concurrency[m], m),
    )
    return order[:count]


def _pile_ups(
    inputs: Sequence[LoadInput], profile: LoadProfile, minutes: Sequence[int]
) -> tuple[PileUp, ...]:
    """In the first ``PILE_UP_PEAKS`` peak minutes, the schedules whose first fire there
    starts on the same second."""
    found: dict[datetime, set[str]] = defaultdict(set)
    for index in minutes[:PILE_UP_PEAKS]:
        lo = profile.minute(index)
        hi = lo + timedelta(minutes=1)
        firsts: dict[tuple[str, str, int], datetime] = {}  # identical schedules: one walk
        for item in inputs:
            key = (item.schedule.expression, item.schedule.timezone, item.offset_seconds)
            at = firsts.get(key)
            if at is None:
                shift = timedelta(seconds=item.offset_seconds)
                fire = item.schedule.next_after(lo - shift - timedelta(microseconds=1))
                at = firsts[key] = fire.astimezone(UTC) + shift
            if at < hi:
                found[at.replace(microsecond=0)].add(item.name)
    return tuple(
        PileUp(at, tuple(sorted(names)))
        for at, names in sorted(found.items())
        if len(names) >= PILE_UP_MIN
    )


def _floor_minute(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)
