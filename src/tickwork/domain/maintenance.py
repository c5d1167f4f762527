"""Recurring maintenance windows such as ``"sat 02:00-04:00 Europe/Berlin"``.

A window is a set of weekdays, a wall-clock start and end, and a timezone. Its start and end are
turned into instants through ``zoneinfo`` on each candidate day, so a window keeps its wall-clock
times across daylight-saving changes: on the day clocks go forward a "02:00-04:00" window in
Europe/Berlin starts at the first instant after the gap (it lasts one hour), on the day they go
back it lasts three. An end at or before the start means the window ends the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickwork.errors import ConfigError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALL_DAYS = frozenset(range(7))
_DAY_WORDS = {"daily": _ALL_DAYS, "*": _ALL_DAYS, "weekdays": frozenset(range(5))}
_WINDOW = re.compile(
    r"(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})(?:\s+(?P<zone>\S+))?"
)


@dataclass(frozen=True)
class MaintenanceWindow:
    """Weekdays (0 = Monday) on which the window starts, its wall-clock times and timezone."""

    days: frozenset[int]
    start: time
    end: time
    zone: str = "UTC"
    text: str = ""

    @classmethod
    def parse(cls, text: str, *, field: str = "maintenance") -> MaintenanceWindow:
        """``"sat 02:00-04:00 Europe/Berlin"``, ``"mon-fri 22:00-06:00"`` (UTC), ``"daily ..."``.

        Days: names (``mon`` … ``sun``, or the full names), comma lists, ranges (``fri-mon``
        wraps), ``daily``/``*`` or ``weekdays``. Raises ``ConfigError`` naming ``field``.
        """
        match = _WINDOW.fullmatch(text.strip().lower()) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(
                f"invalid maintenance window {text!r} (use e.g. 'sat 02:00-04:00 Europe/Berlin')",
                field=field,
            )
        days = _parse_days(match.group("days"), text, field=field)
        start = _parse_time(match.group("start"), text, field=field)
        end = _parse_time(match.group("end"), text, field=field)
        if start == end:
            raise ConfigError(f"window {text!r} starts when it ends", field=field)
        # The zone keeps the case the user wrote ("Europe/Berlin"), which zoneinfo needs.
        zone = text.strip().split()[-1] if match.group("zone") else "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown timezone {zone!r} in {text!r}", field=field) from None
        return cls(days=days, start=start, end=end, zone=zone, text=text.strip())

    def spans(self, day: date) -> tuple[datetime, datetime] | None:
        """The window starting on local ``day`` as UTC instants, or None if it has none then."""
        if day.weekday() not in self.days:
            return None
        zone = ZoneInfo(self.zone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        begin = _instant(day, self.start, zone)
        finish = _instant(end_day, self.end, zone)
        return begin, finish

    def contains(self, now: datetime) -> bool:
        """Whether the aware instant ``now`` is inside one of the window's occurrences."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        moment = now.astimezone(UTC)
        local = moment.astimezone(ZoneInfo(self.zone)).date()
        # A window that crosses midnight may have started the local day before.
        for day in (local - timedelta(days=1), local):
            span = self.spans(day)
            if span is not None and span[0] <= moment < span[1]:
                return True
        return False

    def __str__(self) -> str:
        return self.text or f"{sorted(self.days)} {self.start}-{self.end} {self.zone}"


def in_any_window(windows: tuple[MaintenanceWindow, ...], now: datetime) -> bool:
    return any(window.contains(now) for window in windows)


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: a wall time in a gap maps past the gap, a repeated one to its first occurrence;
    # the round trip through UTC makes the instant exact for comparisons.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _parse_days(text: str, whole: str, *, field: str) -> frozenset[int]:
    if text in _DAY_WORDS:
        return _DAY_WORDS[text]
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        start = _day(first, whole, field=field)
        stop = start if not last else _day(last, whole, field=field)
        count = (stop - start) % 7
        days.update((start + offset) % 7 for offset in range(count + 1))
    return frozenset(days)


def _day(name: str, whole: str, *, field: str) -> int:
    short = name[:3]
    full = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday"}
    full |= {"fri": "friday", "sat": "saturday", "sun": "sunday"}
    if short not in DAY_NAMES or name not in (short, full[short]):
        raise ConfigError(f"unknown day {name!r} in {whole!r} (use mon … sun)", field=field)
    return DAY_NAMES.index(short)


def _parse_time(text: str, whole: str, *, field: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ConfigError(f"invalid time {text!r} in {whole!r}", field=field)
    return time(hours, minutes)
