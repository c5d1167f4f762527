"""Parsing of human durations such as ``30s``, ``5m``, ``1h30m`` and ``250ms``, and of times
given as an ISO 8601 time or a duration from now."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tickwork.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | int | float, *, field: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, or a string like ``30s``, ``5m``, ``1h30m``.

    Raises ``ConfigError`` naming ``field`` for anything else, and for negative values.
    """
    if isinstance(value, bool):
        raise ConfigError(f"expected a duration like '30s', got {value!r}", field=field)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ConfigError(
                    f"invalid duration {value!r} (use e.g. '30s', '5m', '1h30m', '250ms')",
                    field=field,
                )
    if seconds < 0:
        raise ConfigError(f"duration must not be negative, got {value!r}", field=field)
    return seconds


def format_duration(seconds: float) -> str:
    """A compact human form of ``seconds`` (``90`` -> ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"invalid ISO 8601 time {value!r}", field=field) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {value!r} needs a UTC offset (e.g. +00:00 or Z)", field=field)
    return parsed


def parse_time_or_duration(value: str, field: str, now: datetime) -> datetime:
    """An ISO 8601 time with a UTC offset, or a duration from ``now`` (``30m``, ``2h``)."""
    try:
        return now + timedelta(seconds=parse_duration(value, field=field))
    except ConfigError:
        pass
    try:
        return parse_time(value, field)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc.reason}; or give a duration from now such as '30m' or '2h'", field=field
        ) from None
