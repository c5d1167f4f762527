"""Business calendars: the hours a task may start in (weekdays, hours, public holidays, dates).

Pure: no I/O and no wall clock. The public holidays come from the ``holidays`` package, whose
tables are plain data; they are looked up once per (country, subdivision, year) and cached.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tickwork.domain.schedules import load_timezone
from tickwork.errors import ConfigError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS = frozenset(range(5))
DEFAULT_START = time(9, 0)
DEFAULT_END = time(17, 0)
# "24:00" as an end means "until midnight"; time() cannot hold it, so the last microsecond does.
END_OF_DAY = time.max
# next_open looks this many days ahead before it gives up (about two years).
MAX_CLOSED_DAYS = 800
SPEC_KEYS = ("timezone", "days", "hours", "holidays", "subdivision", "dates")

_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_HOURS = re.compile(rf"\s*{_CLOCK}\s*-\s*{_CLOCK}\s*")
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Calendar:
    """When a job may start: on ``days`` (0=Mon..6=Sun) from ``start`` until before ``end``,
    local time in ``timezone``, except on the public holidays of ``holidays_country`` (and its
    ``subdivision``) and on the extra closed ``dates``."""

    timezone: str = "UTC"
    days: frozenset[int] = WEEKDAYS
    start: time = DEFAULT_START
    end: time = DEFAULT_END
    holidays_country: str | None = None
    subdivision: str | None = None
    dates: frozenset[date] = frozenset()
    _tz: ZoneInfo = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", load_timezone(self.timezone))
        if not self.days:
            raise ConfigError("no open days: give at least one day", field="calendar.days")
        bad = sorted(d for d in self.days if type(d) is not int or not 0 <= d <= 6)
        if bad:
            raise ConfigError(
                f"invalid days {bad!r}: expected 0 (Mon) .. 6 (Sun)", field="calendar.days"
            )
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ConfigError(
                "start and end are local times of the calendar's timezone, without an offset",
                field="calendar.hours",
            )
        if self.end <= self.start:
            raise ConfigError(
                f"hours {_hours_text(self.start, self.end)!r}: the end must be after the start",
                field="calendar.hours",
            )
        if self.subdivision is not None and self.holidays_country is None:
            raise ConfigError(
                f"subdivision {self.subdivision!r} needs a holidays country",
                field="calendar.subdivision",
            )
        if self.holidays_country is not None:
            _check_holidays(self.holidays_country, self.subdivision)

    # --- queries -----------------------------------------------------------------------------
    def is_open_day(self, day: date) -> bool:
        """Whether ``day`` (a local date of the calendar) has opening hours at all."""
        if day.weekday() not in self.days or day in self.dates:
            return False
        if self.holidays_country is None:
            return True
        return day not in _holiday_dates(self.holidays_country, self.subdivision, day.year)

    def is_open(self, at: datetime) -> bool:
        """Whether the instant ``at`` (aware) lies within opening hours."""
        local = _aware(at).astimezone(self._tz)
        return self._within_hours(local.time()) and self.is_open_day(local.date())

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself if open, else the next instant that is; aware, in the calendar's zone.

        Raises ``ConfigError`` if no day within about two years is open.
        """
        local = _aware(at).astimezone(self._tz)
        if self.is_open(local):
            return local
        at_utc = local.astimezone(UTC)
        day = local.date()
        for _ in range(MAX_CLOSED_DAYS):
            if self.is_open_day(day):
                opening = self._opening(day, at_utc)
                if opening is not None:
                    return opening
            day += timedelta(days=1)
        raise ConfigError(
            f"no opening within {MAX_CLOSED_DAYS} days after {local.isoformat()}",
            field="calendar",
        )

    # --- internals ---------------------------------------------------------------------------
    def _within_hours(self, wall: time) -> bool:
        return self.start <= wall and (wall < self.end or self.end == END_OF_DAY)

    def _opening(self, day: date, not_before: datetime) -> datetime | None:
        """The first open instant of ``day`` at or after ``not_before`` (UTC), if any."""
        naive = datetime.combine(day, self.start)
        # Where the start wall time occurs twice (clocks turned back) both passes may open.
        for fold in (0, 1):
            candidate = _first_instant_at(naive, self._tz, fold)
            if candidate.astimezone(UTC) >= not_before and self.is_open(candidate):
                return candidate
        return None  # the day's opening has passed (``not_before`` itself is closed)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {at.isoformat()}")
    return at


def _first_instant_at(naive: datetime, tz: ZoneInfo, fold: int) -> datetime:
    """The first instant whose local wall time in ``tz`` is ``naive`` or later (the ``fold``
    pass if that wall time occurs twice). A wall time in a daylight-saving gap does not exist:
    then it is the end of the gap (e.g. 03:00 for 02:30 on a spring-forward day in Berlin)."""
    local = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC).astimezone(tz)
    if local.replace(tzinfo=None) == naive:
        return local
    # In a gap: fold=1 reads the wall time with the offset after the change (an instant before
    # the gap), fold=0 with the offset before it (an instant after the gap). Bisect between.
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if high < low:
        low, high = high, low
    while high - low > _ONE_MICROSECOND:
        mid = low + (high - low) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid
    return high.astimezone(tz)


# --- holidays ----------------------------------------------------------------------------------
# The holidays package takes ~70 ms to import: only calendars with a holidays country load it.
@functools.cache
def _supported() -> dict[str, list[str]]:
    import holidays as holidays_pkg

    return dict(holidays_pkg.list_supported_countries())


@functools.lru_cache(maxsize=4096)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # A holiday observed on another day can move into the year before (1 Jan on a Saturday is
    # observed on 31 Dec in some countries), so the next year's table is read too.
    import holidays as holidays_pkg

    table = holidays_pkg.country_holidays(country, subdiv=subdivision, years=(year, year + 1))
    return frozenset(d for d in table if d.year == year)


def _check_holidays(country: str, subdivision: str | None) -> None:
    if country not in _supported():
        raise ConfigError(
            f"unknown holidays country {country!r} (expected an ISO 3166 code such as 'DE')",
            field="calendar.holidays",
        )
    try:
        _holiday_dates(country, subdivision, 2000)
    except NotImplementedError:
        known = ", ".join(_supported()[country]) or "none"
        raise ConfigError(
            f"unknown subdivision {subdivision!r} of {country} (known: {known})",
            field="calendar.subdivision",
        ) from None


def _canonical_country(value: str) -> str:
    upper = value.strip().upper()
    return upper if upper in _supported() else value.strip()


def _canonical_subdivision(country: str, value: str) -> str:
    wanted = value.strip()
    for known in _supported().get(country, ()):
        if known.lower() == wanted.lower():
            return known
    return wanted


# --- specs -------------------------------------------------------------------------------------
def calendar_from_spec(spec: dict[str, Any], *, field: str = "calendar") -> Calendar:
    """The calendar a config table describes, e.g.
    ``{"timezone": "Europe/Berlin", "days": ["mon", "fri"], "hours": "09:00-17:00",
    "holidays": "DE", "subdivision": "BY", "dates": ["2026-12-24"]}`` (all keys optional).

    Raises ``ConfigError`` for ``field`` + ``.key`` naming the bad value.
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a table, got {spec!r}", field=field)
    for key in spec:
        if key not in SPEC_KEYS:
            raise ConfigError(
                f"unknown key {key!r} (expected one of {', '.join(SPEC_KEYS)})",
                field=f"{field}.{key}",
            )
    kwargs: dict[str, Any] = {}
    if "timezone" in spec:
        tz = spec["timezone"]
        if not isinstance(tz, str):
            raise ConfigError(f"expected an IANA name, got {tz!r}", field=f"{field}.timezone")
        try:
            load_timezone(tz)
        except ConfigError as exc:
            raise ConfigError(exc.reason, field=f"{field}.timezone") from None
        kwargs["timezone"] = tz
    if "days" in spec:
        kwargs["days"] = _parse_days(spec["days"], f"{field}.days")
    if "hours" in spec:
        kwargs["start"], kwargs["end"] = _parse_hours(spec["hours"], f"{field}.hours")
    country = spec.get("holidays")
    if country is not None:
        if not isinstance(country, str) or not country.strip():
            raise ConfigError(
                f"expected a country code such as 'DE', got {country!r}",
                field=f"{field}.holidays",
            )
        kwargs["holidays_country"] = _canonical_country(country)
    subdivision = spec.get("subdivision")
    if subdivision is not None:
        if not isinstance(subdivision, str) or not subdivision.strip():
            raise ConfigError(
                f"expected a subdivision code such as 'BY', got {subdivision!r}",
                field=f"{field}.subdivision",
            )
        kwargs["subdivision"] = _canonical_subdivision(
            kwargs.get("holidays_country", ""), subdivision
        )
    if "dates" in spec:
        kwargs["dates"] = _parse_dates(spec["dates"], f"{field}.dates")
    try:
        return Calendar(**kwargs)
    except ConfigError as exc:
        name = exc.field or "calendar"
        raise ConfigError(exc.reason, field=field + name.removeprefix("calendar")) from None


def calendar_to_spec(cal: Calendar) -> dict[str, Any]:
    """The normalized, JSON-able spec of ``cal``; ``calendar_from_spec`` gives it back."""
    spec: dict[str, Any] = {
        "timezone": cal.timezone,
        "days": [DAY_NAMES[d] for d in sorted(cal.days)],
        "hours": _hours_text(cal.start, cal.end),
    }
    if cal.holidays_country is not None:
        spec["holidays"] = cal.holidays_country
    if cal.subdivision is not None:
        spec["subdivision"] = cal.subdivision
    if cal.dates:
        spec["dates"] = [d.isoformat() for d in sorted(cal.dates)]
    return spec


def _parse_days(value: Any, field: str) -> frozenset[int]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f'expected a list such as ["mon", "tue"], got {value!r}', field=field)
    days: set[int] = set()
    for item in value:
        if isinstance(item, str) and item.strip().lower() in DAY_NAMES:
            days.add(DAY_NAMES.index(item.strip().lower()))
        elif isinstance(item, str) and item.strip().lower() in _FULL_DAY_NAMES:
            days.add(_FULL_DAY_NAMES.index(item.strip().lower()))
        elif type(item) is int and 0 <= item <= 6:
            days.add(item)
        else:
            raise ConfigError(
                f"invalid day {item!r}: expected mon..sun or 0 (Mon) .. 6 (Sun)", field=field
            )
    if not days:
        raise ConfigError("no open days: give at least one day", field=field)
    return frozenset(days)


def _parse_hours(value: Any, field: str) -> tuple[time, time]:
    match = _HOURS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"invalid hours {value!r}: expected e.g. '09:00-17:00'", field=field)
    groups = match.groups()
    start = _clock(groups[:3], value, field, allow_24=False)
    end = _clock(groups[3:], value, field, allow_24=True)
    if end <= start:
        raise ConfigError(f"invalid hours {value!r}: the end must be after the start", field=field)
    return start, end


def _clock(parts: tuple[Any, ...], text: str, field: str, *, allow_24: bool) -> time:
    hour, minute = int(parts[0]), int(parts[1])
    second = int(parts[2]) if parts[2] is not None else 0
    if allow_24 and (hour, minute, second) == (24, 0, 0):
        return END_OF_DAY
    if hour > 23 or minute > 59 or second > 59:
        raise ConfigError(f"invalid hours {text!r}: no such time of day", field=field)
    return time(hour, minute, second)


def _clock_text(t: time) -> str:
    if t == END_OF_DAY:
        return "24:00"
    return t.strftime("%H:%M") if t.second == 0 and t.microsecond == 0 else t.strftime("%H:%M:%S")


def _hours_text(start: time, end: time) -> str:
    return f"{_clock_text(start)}-{_clock_text(end)}"


def _parse_dates(value: Any, field: str) -> frozenset[date]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f'expected a list such as ["2026-12-24"], got {value!r}', field=field)
    dates: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):  # a TOML date
            dates.add(item)
            continue
        try:
            if not isinstance(item, str) or len(item.strip()) != 10:
                raise ValueError
            dates.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise ConfigError(f"invalid date {item!r}: expected YYYY-MM-DD", field=field) from None
    return frozenset(dates)
