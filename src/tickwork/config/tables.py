"""Typed reads from TOML tables, ``${VAR}`` substitution and one-line error helpers."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError

_SUBSTITUTION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_MAX_SHOWN = 80
_T = TypeVar("_T")
_TYPE_NAMES: dict[type, str] = {bool: "boolean", int: "integer", float: "float", str: "string"}


class Table:
    """Typed reads from one TOML table; errors name the job and ``prefix`` + key."""

    def __init__(self, data: dict[str, Any], *, job: str | None, prefix: str = "") -> None:
        self.data = data
        self.job = job
        self.prefix = prefix

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, job=self.job, field=self.prefix + key)

    def check_keys(self, allowed: Iterable[str]) -> None:
        known = tuple(allowed)
        for key in self.data:
            if key not in known:
                raise self.error(key, unknown_key_message(key, known, what="key"))

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected a string, got {describe(value)}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {describe(value)}")
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.error(key, f"expected an integer, got {describe(value)}")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, f"expected a number, got {describe(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"must be finite, got {value!r}")
        return float(value)

    def duration(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(
                key, f"expected seconds or a duration like '30s', got {describe(value)}"
            )
        try:
            seconds = parse_duration(value, field=self.prefix + key)
        except ConfigError as exc:
            raise (exc if self.job is None else exc.for_job(self.job)) from None
        if not math.isfinite(seconds):
            raise self.error(key, f"must be finite, got {value!r}")
        return seconds

    def table(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {describe(value)}")
        return value

    def array(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, list):
            raise self.error(key, f"expected an array, got {describe(value)}")
        return value

    def string_table(self, key: str) -> dict[str, str]:
        """A table whose values must all be strings (headers, env)."""
        table = self.table(key) or {}
        for name, value in table.items():
            if not isinstance(value, str):
                raise self.error(f"{key}.{name}", f"expected a string, got {describe(value)}")
        return dict(table)

    def sub(self, key: str) -> Table | None:
        table = self.table(key)
        return None if table is None else Table(table, job=self.job, prefix=f"{self.prefix}{key}.")


def substitute_env(
    value: str, environ: Mapping[str, str], *, field: str, job: str | None = None
) -> str:
    """``value`` with ``${VAR}`` and ``${VAR:-default}`` replaced from ``environ``.

    ``$${`` is a literal ``${``. ``${VAR:-default}`` uses the default when VAR is unset or empty.
    An unset VAR without a default, a bad variable name or an unclosed ``${`` raise
    ``ConfigError`` naming ``job`` and ``field``.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        inner = match.group(1)
        if inner is None:
            raise ConfigError(f"unclosed '${{' in {show(value)}", job=job, field=field)
        parsed = _VARIABLE.fullmatch(inner)
        if parsed is None:
            raise ConfigError(
                f"invalid variable reference {show(token)} (use ${{NAME}} or ${{NAME:-default}};"
                " write $${ for a literal ${)",
                job=job,
                field=field,
            )
        name, default = parsed.group(1), parsed.group(2)
        found = environ.get(name)
        if default is not None:
            return found if found else default
        if found is None:
            raise ConfigError(f"environment variable {name!r} is not set", job=job, field=field)
        return found

    return _SUBSTITUTION.sub(replace, value)


def substitute_tree(value: Any, environ: Mapping[str, str], *, job: str | None, path: str) -> Any:
    """``value`` with ``substitute_env`` applied to every string inside it (keys stay as is)."""
    if isinstance(value, str):
        return substitute_env(value, environ, field=path, job=job)
    if isinstance(value, list):
        return [
            substitute_tree(item, environ, job=job, path=f"{path}[{index}]")
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            key: substitute_tree(item, environ, job=job, path=f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    return value


def check_json(value: _T, table: Table, key: str) -> _T:
    """``value`` unchanged, once it is known to survive a JSON round trip (runs store it so)."""

    def walk(item: object, path: str) -> None:
        if isinstance(item, dict):
            for name, sub in item.items():
                walk(sub, f"{path}.{name}")
        elif isinstance(item, list):
            for position, sub in enumerate(item):
                walk(sub, f"{path}[{position}]")
        elif isinstance(item, float) and not math.isfinite(item):
            raise table.error(path, f"JSON has no {item!r}")
        elif isinstance(item, date | time):
            raise table.error(path, f"TOML dates/times are not JSON; quote it: {show(item)}")

    walk(value, key)
    return value


def unknown_key_message(key: str, known: Iterable[str], *, what: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {key!r}{hint}"


def show(value: object) -> str:
    """``repr(value)``, shortened so that error messages stay on one readable line."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def describe(value: object) -> str:
    if isinstance(value, dict):
        kind = "table"
    elif isinstance(value, list):
        kind = "array"
    elif isinstance(value, datetime | date | time):
        kind = "date/time"
    else:
        kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    return f"{show(value)} ({kind})"
