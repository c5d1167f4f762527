"""Values given on the command line: ISO 8601 times, times or durations, JSON arguments."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError


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


def parse_json(value: str | None, field: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON ({exc.msg} at column {exc.colno})", field=field) from None
    if not isinstance(parsed, kind):
        raise ConfigError(f"must be a JSON {'array' if kind is list else 'object'}", field=field)
    return parsed
