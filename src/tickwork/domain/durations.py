"""Parsing of human durations such as ``30s``, ``5m``, ``1h30m`` and ``250ms``."""

from __future__ import annotations

import re

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
