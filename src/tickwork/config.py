"""Settings and job definitions from ``tickwork.toml``, ``TICKWORK_*`` variables and CLI flags."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tickwork.domain.durations import parse_duration
from tickwork.domain.schedules import load_timezone, parse_schedule
from tickwork.domain.tasks import (
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_CAP_SECONDS,
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEZONE,
    HTTP_METHODS,
    HttpTarget,
    PythonTarget,
    RetryPolicy,
    ShellTarget,
    Target,
    TaskDefinition,
    TaskSource,
    validate_name,
    validate_python_path,
)
from tickwork.errors import ConfigError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_MAX_CONCURRENT_JOBS",
    "DEFAULT_MISFIRE_GRACE_SECONDS",
    "DEFAULT_OUTPUT_LIMIT_BYTES",
    "DEFAULT_POLL_INTERVAL_SECONDS",
    "DEFAULT_SHUTDOWN_TIMEOUT_SECONDS",
    "ENV_VARS",
    "LOG_LEVELS",
    "SETTING_ALIASES",
    "Config",
    "Settings",
    "load_config",
    "parse_config_text",
    "settings_from_env",
    "substitute_env",
]

DEFAULT_DATABASE_URL = "sqlite:///tickwork.db"
DEFAULT_BATCH_SIZE = 50
DEFAULT_MAX_CONCURRENT_JOBS = 20
DEFAULT_POLL_INTERVAL_SECONDS = 1.0
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 30.0
DEFAULT_OUTPUT_LIMIT_BYTES = 65536
DEFAULT_MISFIRE_GRACE_SECONDS = 60.0
DEFAULT_LOG_LEVEL = "INFO"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Settings field -> environment variable that sets it.
ENV_VARS: Mapping[str, str] = {
    "database_url": "TICKWORK_DATABASE_URL",
    "batch_size": "TICKWORK_BATCH_SIZE",
    "max_concurrent_jobs": "TICKWORK_MAX_CONCURRENT_JOBS",
    "poll_interval_seconds": "TICKWORK_POLL_INTERVAL",
    "lease_seconds": "TICKWORK_LEASE",
    "shutdown_timeout_seconds": "TICKWORK_SHUTDOWN_TIMEOUT",
    "output_limit_bytes": "TICKWORK_OUTPUT_LIMIT",
    "misfire_grace_seconds": "TICKWORK_MISFIRE_GRACE",
    "log_level": "TICKWORK_LOG_LEVEL",
}

# Short names accepted in [tickwork] and in overrides, because `poll_interval = "1s"` reads
# better than `poll_interval_seconds = "1s"` once durations may carry their own unit.
SETTING_ALIASES: Mapping[str, str] = {
    "poll_interval": "poll_interval_seconds",
    "lease": "lease_seconds",
    "shutdown_timeout": "shutdown_timeout_seconds",
    "output_limit": "output_limit_bytes",
    "misfire_grace": "misfire_grace_seconds",
}

_INT_MINIMUMS = {"batch_size": 1, "max_concurrent_jobs": 1, "output_limit_bytes": 1024}
# Duration setting -> whether zero is allowed.
_DURATION_ZERO_OK = {
    "poll_interval_seconds": False,
    "lease_seconds": False,
    "shutdown_timeout_seconds": True,
    "misfire_grace_seconds": True,
}

_TOP_LEVEL_KEYS = ("tickwork", "jobs")
_COMMON_JOB_KEYS = (
    "name",
    "description",
    "schedule",
    "timezone",
    "timeout",
    "max_retries",
    "enabled",
    "priority",
    "tags",
    "backoff",
)
_PYTHON_KEYS = ("task", "args", "kwargs")
_SHELL_KEYS = ("command", "cwd", "env")
_JOB_KEYS = (*_COMMON_JOB_KEYS, *_PYTHON_KEYS, *_SHELL_KEYS, "http")
_HTTP_KEYS = ("method", "url", "headers", "json", "body", "expected_status")
_BACKOFF_KEYS = ("base", "factor", "cap", "jitter")

_SUBSTITUTION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_MAX_SHOWN = 80
_T = TypeVar("_T")
_TYPE_NAMES: dict[type, str] = {bool: "boolean", int: "integer", float: "float", str: "string"}


@dataclass(frozen=True)
class Settings:
    """Process-wide knobs; every instance is validated, so holders never re-check them."""

    database_url: str = DEFAULT_DATABASE_URL
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT_JOBS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES
    misfire_grace_seconds: float = DEFAULT_MISFIRE_GRACE_SECONDS
    log_level: str = DEFAULT_LOG_LEVEL

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = _validate_setting(item.name, getattr(self, item.name), field=item.name)
            # Normalises e.g. int -> float for durations; frozen, hence object.__setattr__.
            object.__setattr__(self, item.name, value)

    def replace(self, **changes: object) -> Settings:
        """A validated copy with ``changes`` applied.

        Keys are field names or their short names (``SETTING_ALIASES``); durations may be numbers
        of seconds or strings like ``"1s"``; ``log_level`` is case-insensitive.
        """
        # Any: each value was checked against its field by _coerce_setting, which mypy cannot see.
        values: dict[str, Any] = {}
        for key, value in changes.items():
            name = _setting_name(key, field=key)
            if name in values:
                raise ConfigError(f"{name!r} given twice (once as {key!r})", field=key)
            values[name] = _coerce_setting(name, value, field=key, from_text=False)
        return dataclasses.replace(self, **values)


@dataclass(frozen=True)
class Config:
    """Everything ``load_config`` found: settings, the file's task definitions and the file."""

    settings: Settings
    tasks: tuple[TaskDefinition, ...]
    path: Path | None


def load_config(
    path: Path | str | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Read and fully validate ``path`` (``None``: no file) into a ``Config``; writes nothing.

    Settings precedence: ``overrides`` (CLI flags; ``None`` values are ignored) > environment
    (``settings_from_env``) > the file's ``[tickwork]`` table > defaults. ``environ`` defaults to
    ``os.environ``. Raises ``ConfigError`` (one line) for a missing/unreadable file and for any
    invalid setting or job.
    """
    env = os.environ if environ is None else environ
    file_settings: dict[str, object] = {}
    tasks: tuple[TaskDefinition, ...] = ()
    config_path = None if path is None else Path(path)
    if config_path is not None:
        text = _read_config_file(config_path)
        file_settings, tasks = parse_config_text(text, environ=env, source_name=str(config_path))
    flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    settings = Settings().replace(**file_settings).replace(**settings_from_env(env))
    return Config(settings=settings.replace(**flags), tasks=tasks, path=config_path)


def parse_config_text(
    text: str, *, environ: Mapping[str, str], source_name: str = "tickwork.toml"
) -> tuple[dict[str, object], tuple[TaskDefinition, ...]]:
    """The ``[tickwork]`` settings (validated, by field name) and the ``[[jobs]]`` of ``text``.

    ``source_name`` only appears in TOML syntax errors.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(f"{source_name}: invalid TOML: {exc}") from None
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            hint = " (a job key above the first [[jobs]]?)" if key in _JOB_KEYS else ""
            message = _unknown_key_message(key, _TOP_LEVEL_KEYS, what="top-level key")
            raise ConfigError(message + hint, field=key)
    settings = _settings_from_table(data.get("tickwork", {}), environ)
    return settings, _parse_jobs(data.get("jobs", []), environ)


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
            raise ConfigError(f"unclosed '${{' in {_show(value)}", job=job, field=field)
        parsed = _VARIABLE.fullmatch(inner)
        if parsed is None:
            raise ConfigError(
                f"invalid variable reference {_show(token)} (use ${{NAME}} or ${{NAME:-default}};"
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


def settings_from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """Validated settings (by field name) from the variables set and non-empty in ``environ``.

    Variables: TICKWORK_DATABASE_URL, TICKWORK_BATCH_SIZE, TICKWORK_MAX_CONCURRENT_JOBS,
    TICKWORK_POLL_INTERVAL, TICKWORK_LEASE, TICKWORK_SHUTDOWN_TIMEOUT, TICKWORK_OUTPUT_LIMIT
    (bytes), TICKWORK_MISFIRE_GRACE and TICKWORK_LOG_LEVEL (see ``ENV_VARS``). Durations take
    seconds or strings like ``"1s"``. Empty values count as unset, as container tools often
    export every listed variable.
    """
    values: dict[str, object] = {}
    for name, variable in ENV_VARS.items():
        raw = environ.get(variable)
        if raw is not None and raw.strip():
            values[name] = _coerce_setting(name, raw, field=variable, from_text=True)
    return values


# --- settings ------------------------------------------------------------------------------


def _setting_name(key: str, *, field: str) -> str:
    name = SETTING_ALIASES.get(key, key)
    if name not in ENV_VARS:
        candidates = (*ENV_VARS, *SETTING_ALIASES)
        raise ConfigError(_unknown_key_message(key, candidates, what="setting"), field=field)
    return name


def _settings_from_table(table: object, environ: Mapping[str, str]) -> dict[str, object]:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {_describe(table)}", field="tickwork")
    values: dict[str, object] = {}
    for key, value in table.items():
        field = f"tickwork.{key}"
        name = _setting_name(key, field=field)
        if name in values:
            raise ConfigError(f"{name!r} given twice (once as {key!r})", field=field)
        if isinstance(value, str):
            value = substitute_env(value, environ, field=field)
        values[name] = _coerce_setting(name, value, field=field, from_text=False)
    return values


def _coerce_setting(name: str, value: object, *, field: str, from_text: bool) -> object:
    """``value`` converted to the type of setting ``name`` and validated."""
    given = value
    if name in _INT_MINIMUMS and from_text and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"expected an integer, got {_show(value)}", field=field) from None
    elif name in _DURATION_ZERO_OK and isinstance(value, str | int | float):
        value = parse_duration(value, field=field)
    elif name == "log_level" and isinstance(value, str):
        value = value.strip().upper()
    return _validate_setting(name, value, field=field, given=given)


def _validate_setting(name: str, value: object, *, field: str, given: object = None) -> object:
    """``value`` checked (and durations made float); messages show ``given``, the raw input."""
    shown = _show(value if given is None else given)
    if name in _INT_MINIMUMS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {_describe(value)}", field=field)
        if value < _INT_MINIMUMS[name]:
            raise ConfigError(f"must be >= {_INT_MINIMUMS[name]}, got {shown}", field=field)
        return value
    if name in _DURATION_ZERO_OK:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(
                f"expected seconds or a duration like '30s', got {_describe(value)}", field=field
            )
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"must be a finite number >= 0, got {shown}", field=field)
        if seconds == 0 and not _DURATION_ZERO_OK[name]:
            raise ConfigError(f"must be > 0, got {shown}", field=field)
        return seconds
    if name == "log_level":
        if not isinstance(value, str) or value not in LOG_LEVELS:
            raise ConfigError(f"must be one of {', '.join(LOG_LEVELS)}, got {shown}", field=field)
        return value
    # database_url: its scheme is checked by the store, which knows the supported drivers.
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty string, got {_describe(value)}", field=field)
    return value


# --- jobs ----------------------------------------------------------------------------------


class _Table:
    """Typed reads from one TOML table; errors name the job and ``prefix`` + key."""

    def __init__(self, data: dict[str, Any], *, job: str, prefix: str = "") -> None:
        self.data = data
        self.job = job
        self.prefix = prefix

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, job=self.job, field=self.prefix + key)

    def check_keys(self, allowed: Iterable[str]) -> None:
        known = tuple(allowed)
        for key in self.data:
            if key not in known:
                raise self.error(key, _unknown_key_message(key, known, what="key"))

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_describe(value)}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.error(key, f"expected an integer, got {_describe(value)}")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"must be finite, got {value!r}")
        return float(value)

    def duration(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(
                key, f"expected seconds or a duration like '30s', got {_describe(value)}"
            )
        try:
            seconds = parse_duration(value, field=self.prefix + key)
        except ConfigError as exc:
            raise exc.for_job(self.job) from None
        if not math.isfinite(seconds):
            raise self.error(key, f"must be finite, got {value!r}")
        return seconds

    def table(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {_describe(value)}")
        return value

    def array(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, list):
            raise self.error(key, f"expected an array, got {_describe(value)}")
        return value

    def string_table(self, key: str) -> dict[str, str]:
        """A table whose values must all be strings (headers, env)."""
        table = self.table(key) or {}
        for name, value in table.items():
            if not isinstance(value, str):
                raise self.error(f"{key}.{name}", f"expected a string, got {_describe(value)}")
        return dict(table)

    def sub(self, key: str) -> _Table | None:
        table = self.table(key)
        return None if table is None else _Table(table, job=self.job, prefix=f"{self.prefix}{key}.")


def _parse_jobs(value: object, environ: Mapping[str, str]) -> tuple[TaskDefinition, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"expected an array of tables ([[jobs]]), got {_describe(value)}", field="jobs"
        )
    first_index: dict[str, int] = {}
    definitions: list[TaskDefinition] = []
    for index, raw in enumerate(value):
        definition = _parse_job(raw, index, environ)
        name = definition.name
        if name in first_index:
            raise ConfigError(
                f"duplicate job name {name!r} (jobs[{index}] repeats jobs[{first_index[name]}])",
                job=name,
                field="name",
            )
        first_index[name] = index
        definitions.append(definition)
    return tuple(definitions)


def _parse_job(raw: object, index: int, environ: Mapping[str, str]) -> TaskDefinition:
    label = f"jobs[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a table ([[jobs]]), got {_describe(raw)}", job=label)
    name = _job_name(_Table(raw, job=label), environ)
    # Everything below is attributed to the (now valid) name instead of the index.
    _check_job_keys(_Table(raw, job=name))
    table = _Table(_substitute_tree(raw, environ, job=name, path=""), job=name)
    try:
        return _build_definition(table, name)
    except ConfigError as exc:
        raise exc.for_job(name) from None


def _check_job_keys(table: _Table) -> None:
    # Before substitution, so that a typo is reported as such rather than as a missing variable.
    table.check_keys(_JOB_KEYS)
    for key, allowed in (("http", _HTTP_KEYS), ("backoff", _BACKOFF_KEYS)):
        sub = table.sub(key)
        if sub is not None:
            sub.check_keys(allowed)


def _job_name(table: _Table, environ: Mapping[str, str]) -> str:
    if "name" not in table.data:
        raise table.error("name", "missing required key 'name'")
    raw = table.string("name")
    assert raw is not None  # "name" is present and string() rejects non-strings
    name = substitute_env(raw, environ, field="name", job=table.job)
    try:
        return validate_name(name)
    except ConfigError as exc:
        raise exc.for_job(table.job) from None


def _build_definition(table: _Table, name: str) -> TaskDefinition:
    timezone = table.string("timezone")
    timezone = DEFAULT_TIMEZONE if timezone is None else timezone.strip()
    load_timezone(timezone)
    schedule = table.string("schedule")
    if schedule is not None:
        schedule = schedule.strip()
        # The expression is kept as written; parsing here only rejects bad ones early.
        parse_schedule(schedule, timezone)
    timeout = table.duration("timeout")
    if timeout is not None and timeout <= 0:
        raise table.error("timeout", f"must be > 0, got {table.data['timeout']!r}")
    max_retries = table.integer("max_retries")
    max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    if max_retries < 0:
        raise table.error("max_retries", f"must be >= 0, got {max_retries}")
    enabled = table.boolean("enabled")
    priority = table.integer("priority")
    args = table.array("args")
    kwargs = table.table("kwargs")
    return TaskDefinition(
        name=name,
        target=_parse_target(table),
        schedule=schedule,
        timezone=timezone,
        timeout_seconds=timeout,
        retry=_parse_retry(table, max_retries),
        enabled=True if enabled is None else enabled,
        description=table.string("description") or "",
        priority=DEFAULT_PRIORITY if priority is None else priority,
        tags=_parse_tags(table),
        args=() if args is None else tuple(_check_json(args, table, "args")),
        kwargs={} if kwargs is None else _check_json(kwargs, table, "kwargs"),
        source=TaskSource.CONFIG,
    )


def _parse_target(table: _Table) -> Target:
    kinds = [key for key in ("task", "command", "http") if key in table.data]
    if not kinds:
        raise table.error(
            "task", "missing target: set one of 'task' (Python), 'command' (shell) or [jobs.http]"
        )
    if len(kinds) > 1:
        raise table.error(
            kinds[1], f"{kinds[0]!r} and {kinds[1]!r} both given; a job has exactly one target"
        )
    kind = kinds[0]
    for key in (*_PYTHON_KEYS, *_SHELL_KEYS):
        owner = "task" if key in _PYTHON_KEYS else "command"
        if key in table.data and owner != kind:
            raise table.error(key, f"only allowed together with {owner!r}, not with {kind!r}")
    if kind == "task":
        path = table.string("task")
        assert path is not None  # present, and string() rejects non-strings
        return PythonTarget(path=validate_python_path(path.strip()))
    if kind == "command":
        command = table.string("command")
        if command is None or not command.strip():
            raise table.error("command", f"must not be empty, got {_show(command)}")
        return ShellTarget(command=command, cwd=table.string("cwd"), env=table.string_table("env"))
    http = table.sub("http")
    assert http is not None  # present, and sub() rejects non-tables
    return _parse_http(http)


def _parse_http(table: _Table) -> HttpTarget:
    method = (table.string("method") or "GET").strip().upper()
    if method not in HTTP_METHODS:
        allowed = ", ".join(sorted(HTTP_METHODS))
        raise table.error("method", f"unsupported method {table.data['method']!r} (use {allowed})")
    url = table.string("url")
    if url is None:
        raise table.error("url", "missing required key 'url'")
    url = url.strip()
    if not _is_http_url(url):
        raise table.error("url", f"expected an http:// or https:// URL, got {_show(url)}")
    headers = table.string_table("headers")
    for header, value in headers.items():
        # A line break would let a value smuggle in extra headers.
        bad_name = not header or any(char in header for char in " :\r\n")
        if bad_name or "\r" in value or "\n" in value:
            raise table.error(f"headers.{header}", f"invalid header {header!r}: {_show(value)}")
    if "json" in table.data and "body" in table.data:
        raise table.error("body", "'json' and 'body' both given; use one of them")
    return HttpTarget(
        url=url,
        method=method,
        headers=headers,
        json=_check_json(table.data.get("json"), table, "json"),
        body=table.string("body"),
        expected_statuses=_parse_statuses(table),
    )


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _parse_statuses(table: _Table) -> tuple[int, ...]:
    value = table.data.get("expected_status")
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise table.error("expected_status", "must not be empty (leave it out to accept any 2xx)")
    for item in items:
        if not isinstance(item, int) or isinstance(item, bool) or not 100 <= item <= 599:
            raise table.error(
                "expected_status", f"expected HTTP status codes 100-599, got {_describe(item)}"
            )
    return tuple(items)


def _parse_retry(table: _Table, max_retries: int) -> RetryPolicy:
    backoff = table.sub("backoff")
    if backoff is None:
        return RetryPolicy(max_retries=max_retries)
    base = backoff.duration("base")
    cap = backoff.duration("cap")
    factor = backoff.number("factor")
    if factor is not None and factor < 1:
        raise backoff.error("factor", f"must be >= 1, got {backoff.data['factor']!r}")
    jitter = backoff.boolean("jitter")
    return RetryPolicy(
        max_retries=max_retries,
        base_seconds=DEFAULT_BACKOFF_BASE_SECONDS if base is None else base,
        factor=DEFAULT_BACKOFF_FACTOR if factor is None else factor,
        cap_seconds=DEFAULT_BACKOFF_CAP_SECONDS if cap is None else cap,
        jitter=True if jitter is None else jitter,
    )


def _parse_tags(table: _Table) -> tuple[str, ...]:
    tags = table.array("tags") or []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise table.error("tags", f"expected non-empty strings, got {_describe(tag)}")
    return tuple(tags)


def _check_json(value: _T, table: _Table, key: str) -> _T:
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
            raise table.error(path, f"TOML dates/times are not JSON; quote it: {_show(item)}")

    walk(value, key)
    return value


def _substitute_tree(value: Any, environ: Mapping[str, str], *, job: str, path: str) -> Any:
    """``value`` with ``substitute_env`` applied to every string inside it (keys stay as is)."""
    if isinstance(value, str):
        return substitute_env(value, environ, field=path, job=job)
    if isinstance(value, list):
        return [
            _substitute_tree(item, environ, job=job, path=f"{path}[{index}]")
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            key: _substitute_tree(item, environ, job=job, path=f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    return value


# --- helpers -------------------------------------------------------------------------------


def _read_config_file(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} is not a file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid UTF-8: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    # Editors on Windows may prepend a BOM, which tomllib rejects.
    return text.removeprefix("\ufeff")


def _unknown_key_message(key: str, known: Iterable[str], *, what: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {key!r}{hint}"


def _show(value: object) -> str:
    """``repr(value)``, shortened so that error messages stay on one readable line."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _describe(value: object) -> str:
    if isinstance(value, dict):
        kind = "table"
    elif isinstance(value, list):
        kind = "array"
    elif isinstance(value, datetime | date | time):
        kind = "date/time"
    else:
        kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    return f"{_show(value)} ({kind})"
