"""Values given on the command line: ISO 8601 times and JSON arguments."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tickwork.errors import ConfigError


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"invalid ISO 8601 time {value!r}", field=field) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {value!r} needs a UTC offset (e.g. +00:00 or Z)", field=field)
    return parsed


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
