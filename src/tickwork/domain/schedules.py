"""Schedule expressions (cron, cron with seconds, @aliases, intervals) and their fire times."""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from cronsim import CronSim, CronSimError

from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "cron_times_of_day",
    "load_timezone",
    "next_fires",
    "parse_schedule",
]


def load_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Berlin``); ``ConfigError`` if there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    # ZoneInfoNotFoundError (a KeyError) for unknown names; ValueError for empty, absolute or
    # ``..`` keys and for files under the tz tree that are not zones (``zone.tab``); OSError for
    # directories such as ``America``.
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"unknown timezone {name!r}", field="timezone") from None


class Schedule(Protocol):
    """When a recurring job fires.

    The contract every schedule keeps:

    * ``expression`` is the text the user wrote, unchanged; ``timezone`` is the IANA name the
      expression is evaluated in.
    * ``next_after(after)`` is the first fire time *strictly after* ``after``. ``after`` must be
      timezone-aware (any zone; a naive datetime raises ``ValueError``). The result is aware and
      expressed in the schedule's timezone (with the right ``fold`` inside a repeated hour).
    * ``iter_after(after)`` yields the same first value and then every later fire, strictly
      increasing as instants. It is resumable: ``next_after(f)`` for a yielded ``f`` is the value
      yielded after ``f``, so a scheduler can persist the last fire and continue after a restart.

    Compare results as instants (e.g. in UTC): Python compares two datetimes that share a tzinfo
    by wall time, ignoring ``fold``, which is wrong inside a repeated hour.
    """

    @property
    def expression(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    def next_after(self, after: datetime) -> datetime: ...

    def iter_after(self, after: datetime) -> Iterator[datetime]: ...


def next_fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` fire times of ``schedule`` strictly after ``after``."""
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    return list(itertools.islice(schedule.iter_after(after), count))


def _as_utc(after: datetime) -> datetime:
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {after.isoformat()}")
    return after.astimezone(UTC)


_ONE_SECOND = timedelta(seconds=1)
_ONE_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A 5-field cron expression (or an @alias of one), optionally with a seconds field in front.

    cronsim lists the matching minutes of local wall-clock time; ``_minute_instants`` turns them
    into real instants under the daylight-saving rules of Debian cron, and each minute fires at
    every second in ``seconds`` (``(0,)`` for a plain 5-field expression).
    """

    expression: str
    timezone: str
    cron: str  # the five minute..day-of-week fields handed to cronsim (aliases expanded)
    seconds: tuple[int, ...]  # sorted, distinct

    @property
    def fixed_time(self) -> bool:
        """Debian cron's split: neither the minute nor the hour field starts with ``*``.

        Fixed-time schedules fire once per matching wall time, even when DST skips or repeats
        it; the others ("wildcard-hour") fire whenever the clock shows a matching time.
        """
        minute, hour = self.cron.split(" ")[:2]
        return not minute.startswith("*") and not hour.startswith("*")

    def next_after(self, after: datetime) -> datetime:
        for fire in self.iter_after(after):
            return fire
        # cronsim gives up after searching 50 years; parse_schedule rejects expressions that
        # never fire, so this needs an expression that fires only in rare, far-apart years.
        raise ConfigError(
            f"cron expression {self.expression!r} does not fire within 50 years after "
            f"{after.isoformat()}",
            field="schedule",
        )

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        tz = load_timezone(self.timezone)
        last = _as_utc(after)
        latest = timedelta(seconds=self.seconds[-1])
        for minute in _minute_instants(self.cron, self.fixed_time, tz, last):
            if minute + latest <= last:
                continue  # all of this minute's fires are already past
            for second in self.seconds:
                # Added in UTC so that a fire never lands on a wall time that does not exist.
                fire = minute + timedelta(seconds=second)
                # The walk starts a little early (see _minute_instants), and a skipped fixed
                # time can coincide with the minute after the jump: keep only later instants.
                if fire > last:
                    last = fire
                    yield fire.astimezone(tz)


def _minute_instants(cron: str, fixed: bool, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """The UTC instants, in order, at which the wall-clock minutes matching ``cron`` fire.

    cronsim walks naive wall-clock time here, which is plain calendar arithmetic; each match is
    then placed on the time line by asking the zone for both of its readings (``fold`` 0 and
    1), so no size of DST shift and no time of day of the transition is assumed:

    * one instant: it fires then;
    * two (the clock shows it twice): fixed-time schedules fire on the first pass only, the
      others on both;
    * none (the clock jumps over it): fixed-time schedules fire at the jump, the others not.

    The result may start up to a minute before ``after`` and may repeat an instant (a skipped
    fixed time fires with the minute after the jump); the caller drops those.
    """
    # Minutes up to a minute before `after` can still have seconds after it. Among them, the
    # first pass through a repeated interval comes before the second pass of earlier wall
    # times, and a skipped minute fires after the jump, i.e. later than its own wall time
    # suggests: starting from the smaller of the two offsets around that point covers both.
    probe = (after - _ONE_MINUTE).astimezone(tz)
    offset = min(_offset(tz, probe), _offset(tz, probe.replace(fold=1)))
    wall = (after - _ONE_MINUTE + offset).replace(tzinfo=None, second=0, microsecond=0)
    second_passes: deque[datetime] = deque()  # the repeated minutes' later instants, in order
    for match in CronSim(cron, wall - _ONE_SECOND):  # cronsim yields strictly after its start
        # fold=0 reads a wall time with the offset in force before a transition, fold=1 with
        # the one after it: two instants if the clock shows it twice, reversed if never.
        first = (match - _offset(tz, match)).replace(tzinfo=UTC)
        second = (match - _offset(tz, match.replace(fold=1))).replace(tzinfo=UTC)
        if first > second:
            if not fixed:
                continue
            first = _jump_between(tz, second, first)
        # Every second pass of a repeated interval comes after all its first passes and before
        # whatever follows the interval.
        while second_passes and second_passes[0] < first:
            yield second_passes.popleft()
        yield first
        if second > first and not fixed:
            second_passes.append(second)
    yield from second_passes


def _offset(tz: tzinfo, moment: datetime) -> timedelta:
    # The zone's offset for moment's wall time and fold; moment itself may be naive.
    offset = tz.utcoffset(moment)
    assert offset is not None  # zones always have one
    return offset


def _jump_between(tz: tzinfo, before: datetime, after: datetime) -> datetime:
    """The instant in (``before``, ``after``] at which ``tz`` changes its UTC offset."""
    old = _offset(tz, before.astimezone(tz))
    # Bisection to the second, since tz data puts transitions on whole seconds.
    while after - before > _ONE_SECOND:
        middle = before + (after - before) // _ONE_SECOND // 2 * _ONE_SECOND
        if _offset(tz, middle.astimezone(tz)) == old:
            before = middle
        else:
            after = middle
    return after


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """``every <duration>``: fires at the multiples of ``interval`` since 1970-01-01T00:00Z.

    Anchoring at the Unix epoch rather than at a start time makes the fires independent of
    daylight-saving time and of when the process started, so every restart agrees on them.
    """

    expression: str
    timezone: str
    interval: timedelta

    def next_after(self, after: datetime) -> datetime:
        return next(self.iter_after(after))

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        tz = load_timezone(self.timezone)
        # Integer microseconds: float seconds would drift on long runs and far from the epoch.
        step = self.interval // _MICROSECOND
        elapsed = (_as_utc(after) - _EPOCH) // _MICROSECOND
        tick = (elapsed // step + 1) * step
        while True:
            yield (_EPOCH + timedelta(microseconds=tick)).astimezone(tz)
            tick += step


_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_EVERY = re.compile(r"every(?:\s+(?P<duration>.*))?", re.IGNORECASE)


def parse_schedule(expression: str, timezone: str = "UTC") -> Schedule:
    """The schedule written as ``expression``, evaluated in the IANA zone ``timezone``.

    Accepted forms: 5-field cron (``*/5 * * * *``, ``0 9 * * MON-FRI``, ``0 0 L * *``), 6-field
    cron with seconds first (``*/10 * * * * *``), aliases (``@daily``, ``@hourly``, ...) and
    intervals (``every 30s``, ``every 1h30m``). Raises ``ConfigError`` for the field
    ``schedule`` naming the expression and the problem, or for ``timezone``.
    """
    load_timezone(timezone)
    text = " ".join(expression.split())
    if not text:
        raise ConfigError("schedule expression is empty", field="schedule")
    if text.startswith("@"):
        cron = _ALIASES.get(text.lower())
        if cron is None:
            known = ", ".join(_ALIASES)
            raise ConfigError(
                f"unknown schedule alias {expression!r} (expected one of {known})",
                field="schedule",
            )
        return _cron_schedule(expression, timezone, cron.split(" "), (0,))
    every = _EVERY.fullmatch(text)
    if every is not None:
        return _interval_schedule(expression, timezone, every.group("duration"))
    fields = text.split(" ")
    if len(fields) == 5:
        return _cron_schedule(expression, timezone, fields, (0,))
    if len(fields) == 6:
        seconds = _parse_or_raise(expression, fields[0], _SECOND)
        return _cron_schedule(expression, timezone, fields[1:], tuple(sorted(seconds)))
    raise ConfigError(
        f"invalid cron expression {expression!r}: expected 5 fields (minute hour day-of-month "
        f"month day-of-week) or 6 with seconds first, got {len(fields)}",
        field="schedule",
    )


def _interval_schedule(expression: str, timezone: str, duration: str | None) -> IntervalSchedule:
    if not duration:
        raise ConfigError(
            f"invalid interval {expression!r}: missing duration (e.g. 'every 5m')", field="schedule"
        )
    try:
        seconds = parse_duration(duration, field="schedule")
    except ConfigError as error:
        raise ConfigError(
            f"invalid interval {expression!r}: {error.reason}", field="schedule"
        ) from None
    # Below one second a scheduler cannot keep up, and zero would never advance.
    if seconds < 1:
        raise ConfigError(
            f"invalid interval {expression!r}: must be at least 1 second", field="schedule"
        )
    try:
        interval = timedelta(seconds=seconds)
    except OverflowError:
        raise ConfigError(f"invalid interval {expression!r}: too long", field="schedule") from None
    return IntervalSchedule(expression=expression, timezone=timezone, interval=interval)


def _cron_schedule(
    expression: str, timezone: str, fields: list[str], seconds: tuple[int, ...]
) -> CronSchedule:
    day, month = [
        _parse_or_raise(expression, text, spec)
        for text, spec in zip(fields, (_MINUTE, _HOUR, _DAY, _MONTH, _DOW), strict=True)
    ][2:4]
    # Same rule as Debian cron and cronsim: a day-of-month or day-of-week starting with "*"
    # means both must match; otherwise either may. Only with "both" can a day be impossible.
    both_days = fields[2].startswith("*") or fields[4].startswith("*")
    first_day = min(day)
    if both_days and first_day > max(_DAYS_IN_MONTH[m] for m in month):
        names = ",".join(_MONTH_NAMES[m - 1] for m in sorted(month))
        raise ConfigError(
            f"invalid cron expression {expression!r}: day-of-month {first_day} never occurs "
            f"in {names}",
            field="schedule",
        )
    cron = " ".join(fields)
    try:
        probe = CronSim(cron, _EPOCH)
    except CronSimError as error:
        # The field checks above follow cronsim's grammar, so this is only a safety net.
        raise ConfigError(
            f"invalid cron expression {expression!r}: {error}", field="schedule"
        ) from None
    try:
        next(probe)
    except StopIteration:
        hint = " (day-of-month and day-of-week must both match)" if both_days else ""
        raise ConfigError(
            f"invalid cron expression {expression!r}: it never fires{hint}", field="schedule"
        ) from None
    return CronSchedule(expression=expression, timezone=timezone, cron=cron, seconds=seconds)


def cron_times_of_day(schedule: CronSchedule) -> tuple[int, ...]:
    """The wall-clock minutes of a day (``hour * 60 + minute``, sorted) at which ``schedule``
    fires on a day it matches: its minute and hour fields, whatever its day fields say."""
    minute, hour = schedule.cron.split(" ")[:2]
    minutes = _parse_field(minute, _MINUTE)
    hours = _parse_field(hour, _HOUR)
    return tuple(sorted(h * 60 + m for h in hours for m in minutes))


# --- Field grammar -------------------------------------------------------------------------
# Mirrors cronsim's parser term for term (same precedence of ",", "L", "#", "/", "-"), so that
# whatever is accepted here cronsim accepts too, but says precisely what is wrong where cronsim
# only says "Bad minute".

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Stand-ins for the special day terms; negative so that they never look like a late day.
_LAST = -1
_LAST_WEEKDAY = -2


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name_value: int = 0


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES, 1)
_DOW = _Field("day-of-week", 0, 7, _DAY_NAMES, 0)  # 0 and 7 are both Sunday


class _FieldError(Exception):
    """Why one cron field is invalid; turned into a ConfigError naming the whole expression."""


def _parse_or_raise(expression: str, text: str, spec: _Field) -> set[int]:
    try:
        return _parse_field(text, spec)
    except _FieldError as error:
        raise ConfigError(
            f"invalid cron expression {expression!r}: {error}", field="schedule"
        ) from None


def _parse_field(text: str, spec: _Field) -> set[int]:
    """The values of one field; special day terms (L, LW, 5L, 1#2) count as negative values."""
    upper = text.upper()  # names and L are case-insensitive, as in cronsim
    if text == "*":
        return set(range(spec.low, spec.high + 1))
    if "," in text:
        values: set[int] = set()
        for term in text.split(","):
            if not term:
                raise _FieldError(f"{spec.name} field {text!r} has an empty list item")
            values |= _parse_field(term, spec)
        return values
    if spec is _DOW and "L" in upper:
        day = text[:-1]
        if not upper.endswith("L") or not _is_number(day):
            raise _FieldError(
                f"{spec.name} {text!r}: 'L' must follow a day number (e.g. 5L = last Friday)"
            )
        _value(day, spec, text)
        return {_LAST}
    if spec is _DOW and "#" in text:
        day, nth = text.split("#", 1)
        if not _is_number(nth) or not 1 <= int(nth) <= 5:
            raise _FieldError(f"{spec.name} {text!r}: the number after '#' must be 1-5")
        _value(day, spec, text)
        return {_LAST}
    if "/" in text:
        base, step_text = text.split("/", 1)
        if not _is_number(step_text):
            raise _FieldError(f"{spec.name} step {step_text!r} in {text!r} is not a number")
        step = int(step_text)
        if step == 0:
            raise _FieldError(f"{spec.name} step in {text!r} must be at least 1")
        if not base:
            raise _FieldError(f"{spec.name} field {text!r} has nothing before the '/'")
        items = _parse_field(base, spec)
        if items in ({_LAST}, {_LAST_WEEKDAY}):
            return items
        if len(items) == 1:  # "n/step" means n, n+step, ... up to the field's maximum
            return set(range(items.pop(), spec.high + 1, step))
        return set(sorted(items)[::step])
    if "-" in text:
        start_text, end_text = text.split("-", 1)
        start, end = _value(start_text, spec, text), _value(end_text, spec, text)
        if end < start:
            raise _FieldError(f"{spec.name} range {text!r} is reversed (start after end)")
        return set(range(start, end + 1))
    if spec is _DAY and upper == "LW":
        return {_LAST_WEEKDAY}
    if spec is _DAY and upper == "L":
        return {_LAST}
    return {_value(text, spec, text)}


def _value(text: str, spec: _Field, term: str) -> int:
    if text.upper() in spec.names:
        return spec.names.index(text.upper()) + spec.first_name_value
    if not text:
        raise _FieldError(f"{spec.name} field {term!r} is missing a value")
    if not _is_number(text):
        if spec.names:
            kind = f"a number or a name ({spec.names[0]}-{spec.names[-1]})"
        else:
            kind = "a number"
        raise _FieldError(f"{spec.name} value {text!r} is not {kind}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise _FieldError(f"{spec.name} value {value} out of range {spec.low}-{spec.high}")
    return value


def _is_number(text: str) -> bool:
    # str.isdigit() also accepts digits such as "²" that int() and cronsim reject.
    return bool(text) and all(ch in "0123456789" for ch in text)
