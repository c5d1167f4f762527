"""Schedules in plain English ("weekdays at 09:00, Europe/Berlin"), for people scanning a list.

Only the shapes that read well are put into words; anything else (steps over hours of the
day, day-of-month together with day-of-week, odd seconds) comes back as the expression itself,
which is always correct. The time zone is named when the time of day matters and is not UTC.
"""

from __future__ import annotations

from datetime import timedelta

from tickwork.domain.schedules import CronSchedule, IntervalSchedule, parse_schedule
from tickwork.errors import ConfigError

__all__ = ["describe_schedule"]

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_ABBR = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_ABBR = tuple(m[:3].upper() for m in _MONTHS)
_WEEKDAYS = [1, 2, 3, 4, 5]
_WEEKEND = [0, 6]


class _Unsayable(Exception):
    """A field this module does not put into words: the expression is shown instead."""


def describe_schedule(expression: str, timezone: str = "UTC") -> str:
    """``expression`` (as ``parse_schedule`` takes it) in plain words, or the expression itself
    (with its zone when not UTC) when it is invalid or has no short description."""
    fallback = expression if timezone == "UTC" else f"{expression}, {timezone}"
    try:
        schedule = parse_schedule(expression, timezone)
    except ConfigError:
        return fallback
    if isinstance(schedule, IntervalSchedule):
        return _every(schedule.interval)
    assert isinstance(schedule, CronSchedule)
    try:
        words, zoned = _cron_words(schedule.cron.split(" "), schedule.seconds)
    except _Unsayable:
        return fallback
    return f"{words}, {timezone}" if zoned and timezone != "UTC" else words


def _every(interval: timedelta) -> str:
    """``every 5 minutes``: the largest unit that divides the interval exactly."""
    seconds = interval.total_seconds()
    for size, unit in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"every {unit}" if n == 1 else f"every {n} {unit}s"
    return f"every {seconds:g} seconds"


def _cron_words(fields: list[str], seconds: tuple[int, ...]) -> tuple[str, bool]:
    """The words of five cron fields (plus a seconds field) and whether the zone matters."""
    minute, hour, dom, month, dow = fields
    if seconds != (0,):
        # Only a steady beat of seconds reads well; nothing else may restrict it.
        if fields != ["*"] * 5:
            raise _Unsayable
        step = _step_of(seconds, 60)
        return (("every second" if step == 1 else f"every {step} seconds"), False)
    days = _day_words(dom, month, dow)
    zoned = hour != "*" or days is not None
    hours = None if hour == "*" else _numbers(hour, 0, 23)
    marks = None if minute == "*" else _numbers(minute, 0, 59)
    hour_step = None if hours is None else _even_step(hours, 24)
    # A repeating time of day: every minute, every n minutes, every (n) hour(s) at :mm.
    if hours is None or hour_step is not None:
        if marks is None:
            if hours is not None:
                raise _Unsayable  # every minute of some hours: rare, and long to say
            time = "every minute"
        elif (minute_step := _even_step(marks, 60)) is not None:
            if hours is not None:
                raise _Unsayable
            time = f"every {minute_step} minutes"
        elif len(marks) > 4:
            raise _Unsayable
        else:
            every = "every hour" if hour_step in (None, 1) else f"every {hour_step} hours"
            time = every if marks == [0] else f"{every} at {_join(_mins(marks))}"
        return (time if days is None else f"{time} {days.repeating}", zoned)
    if marks is None or len(hours) * len(marks) > 4:
        raise _Unsayable
    times = _join([f"{h:02d}:{m:02d}" for h in hours for m in marks])
    if days is None:
        return f"every day at {times}", zoned
    if days.leading:
        return f"{days.fixed} at {times}", zoned
    return f"at {times} {days.fixed}", zoned


class _Days:
    """Which days, said two ways: before a time ("weekdays at 09:00") or after a repeating
    one ("every 5 minutes on weekdays")."""

    def __init__(self, fixed: str, repeating: str, *, leading: bool) -> None:
        self.fixed = fixed
        self.repeating = repeating
        self.leading = leading


def _day_words(dom: str, month: str, dow: str) -> _Days | None:
    months = None if month == "*" else _numbers(month, 1, 12, _MONTH_ABBR, 1)
    if dom != "*" and dow != "*":
        raise _Unsayable  # either day matches (cron's OR rule): too easy to misread
    if dom == "*" and dow == "*":
        if months is None:
            return None
        return _Days(f"every day {_in_months(months)}", _in_months(months), leading=True)
    if dom != "*":
        of = "of each month" if months is None else f"of {_join([_MONTHS[m - 1] for m in months])}"
        upper = dom.upper()
        if upper == "L":
            text = f"on the last day {of}"
        elif upper == "LW":
            text = f"on the last weekday {of}"
        else:
            text = f"on the {_join([_ordinal(d) for d in _numbers(dom, 1, 31)])} {of}"
        return _Days(text, text, leading=False)
    suffix = "" if months is None else f" {_in_months(months)}"
    upper = dow.upper()
    if upper.endswith("L") or "#" in upper:
        if upper.endswith("L"):
            day, text = int(_numbers(upper[:-1], 0, 7, _DAY_ABBR)[0]) % 7, "the last"
        else:
            number, nth = upper.split("#")
            day, text = _numbers(number, 0, 7, _DAY_ABBR)[0] % 7, f"the {_ordinal(int(nth))}"
        month_of = (
            "of the month" if months is None else "of " + _join([_MONTHS[m - 1] for m in months])
        )
        phrase = f"on {text} {_DAY_NAMES[day]} {month_of}"
        return _Days(phrase, phrase, leading=False)
    days = sorted({d % 7 for d in _numbers(dow, 0, 7, _DAY_ABBR)})
    if days == _WEEKDAYS:
        plural = "weekdays"
    elif days == _WEEKEND:
        plural = "weekends"
    else:
        plural = _join([f"{_DAY_NAMES[d]}s" for d in days])
    return _Days(f"{plural}{suffix}", f"on {plural}{suffix}", leading=True)


def _in_months(months: list[int]) -> str:
    if len(months) > 2 and months == list(range(months[0], months[-1] + 1)):
        return f"from {_MONTHS[months[0] - 1]} to {_MONTHS[months[-1] - 1]}"
    return "in " + _join([_MONTHS[m - 1] for m in months])


def _numbers(
    text: str, low: int, high: int, names: tuple[str, ...] = (), first: int = 0
) -> list[int]:
    """The values of a plain field: numbers or names, lists and ranges; steps over a range
    (``1-10/2``) too. ``_Unsayable`` for anything else."""
    out: set[int] = set()
    for term in text.upper().split(","):
        base, _, step_text = term.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names, first), _value(b, names, first)
        else:
            start = _value(base, names, first)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return sorted(out)


def _value(text: str, names: tuple[str, ...], first: int) -> int:
    if text in names:
        return names.index(text) + first
    if not text.isdigit():
        raise _Unsayable
    return int(text)


def _step_of(values: tuple[int, ...], size: int) -> int:
    """The step of values evenly spread from 0 over ``size``; ``_Unsayable`` if they are not."""
    step = _even_step(list(values), size)
    if step is None:
        raise _Unsayable
    return step


def _even_step(values: list[int], size: int) -> int | None:
    """The step of more than one value evenly spread from 0 over ``size`` (``0,15,30,45`` in
    60: 15), else None."""
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    return step if values == list(range(0, size, step)) and size % step == 0 else None


def _mins(marks: list[int]) -> list[str]:
    return [f":{m:02d}" for m in marks]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
