"""Values given on the command line: ISO 8601 times, times or durations, JSON arguments."""

from __future__ import annotations

import json
from typing import Any

from tickwork.domain.durations import parse_time, parse_time_or_duration
from tickwork.errors import ConfigError

__all__ = ["parse_json", "parse_time", "parse_time_or_duration"]


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
