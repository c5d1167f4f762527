"""The ``[[jobs]]`` array of ``tickwork.toml``: one validated ``TaskDefinition`` per table."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from tickwork.config.policies import POLICY_KEYS, check_calendar_keys, parse_policies
from tickwork.config.tables import (
    Table,
    check_json,
    describe,
    show,
    substitute_env,
    substitute_tree,
)
from tickwork.domain.limits import Policies, policies_to_dict
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
    "retry_on",
    "no_retry_on",
    "max_interruptions",
)
_PYTHON_KEYS = ("task", "args", "kwargs")
_SHELL_KEYS = ("command", "cwd", "env")
JOB_KEYS = (*_COMMON_JOB_KEYS, *_PYTHON_KEYS, *_SHELL_KEYS, "http", *POLICY_KEYS)
_HTTP_KEYS = ("method", "url", "headers", "json", "body", "expected_status")
_BACKOFF_KEYS = ("base", "factor", "cap", "jitter")


def parse_jobs(
    value: object, environ: Mapping[str, str], calendars: Mapping[str, dict[str, Any]]
) -> tuple[TaskDefinition, ...]:
    """The definitions of a ``[[jobs]]`` array; ``calendars`` are the named calendar specs."""
    if not isinstance(value, list):
        raise ConfigError(
            f"expected an array of tables ([[jobs]]), got {describe(value)}", field="jobs"
        )
    first_index: dict[str, int] = {}
    definitions: list[TaskDefinition] = []
    for index, raw in enumerate(value):
        definition = _parse_job(raw, index, environ, calendars)
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


def _parse_job(
    raw: object,
    index: int,
    environ: Mapping[str, str],
    calendars: Mapping[str, dict[str, Any]],
) -> TaskDefinition:
    label = f"jobs[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a table ([[jobs]]), got {describe(raw)}", job=label)
    name = _job_name(Table(raw, job=label), environ)
    # Everything below is attributed to the (now valid) name instead of the index.
    _check_job_keys(Table(raw, job=name))
    table = Table(substitute_tree(raw, environ, job=name, path=""), job=name)
    try:
        return _build_definition(table, name, calendars)
    except ConfigError as exc:
        raise exc.for_job(name) from None


def parse_job_table(
    table: object,
    calendars: Mapping[str, dict[str, Any]] | None = None,
    source: TaskSource = TaskSource.API,
) -> TaskDefinition:
    """One ``[[jobs]]``-shaped table given as data (e.g. JSON over the API), with the keys,
    checks and messages of tickwork.toml; no ``${VAR}`` substitution, since the environment
    of the server is none of the caller's business."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a job table, got {describe(table)}")
    unnamed = Table(table, job=None)
    if "name" not in table:
        raise unnamed.error("name", "missing required key 'name'")
    raw_name = unnamed.string("name")
    assert raw_name is not None  # present, and string() rejects non-strings
    name = validate_name(raw_name)
    named = Table(table, job=name)
    _check_job_keys(named)
    try:
        return _build_definition(named, name, calendars or {}, source)
    except ConfigError as exc:
        raise exc.for_job(name) from None


def definition_table(defn: TaskDefinition) -> dict[str, Any]:
    """The ``[[jobs]]`` table of a definition, the inverse of ``parse_job_table``: the name,
    the target and every value that differs from its default (JSON-able)."""
    table: dict[str, Any] = {"name": defn.name}
    if defn.description:
        table["description"] = defn.description
    if defn.schedule is not None:
        table["schedule"] = defn.schedule
    if defn.timezone != DEFAULT_TIMEZONE:
        table["timezone"] = defn.timezone
    if defn.timeout_seconds is not None:
        table["timeout"] = defn.timeout_seconds
    if not defn.enabled:
        table["enabled"] = False
    if defn.priority != DEFAULT_PRIORITY:
        table["priority"] = defn.priority
    if defn.tags:
        table["tags"] = list(defn.tags)
    table.update(_retry_table(defn.retry))
    table.update(_target_table(defn.target))
    if defn.args:
        table["args"] = list(defn.args)
    if defn.kwargs:
        table["kwargs"] = dict(defn.kwargs)
    table.update(_policies_table(defn.policies))
    return table


def _retry_table(retry: RetryPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if retry.max_retries != DEFAULT_MAX_RETRIES:
        out["max_retries"] = retry.max_retries
    backoff: dict[str, Any] = {}
    if retry.base_seconds != DEFAULT_BACKOFF_BASE_SECONDS:
        backoff["base"] = retry.base_seconds
    if retry.factor != DEFAULT_BACKOFF_FACTOR:
        backoff["factor"] = retry.factor
    if retry.cap_seconds != DEFAULT_BACKOFF_CAP_SECONDS:
        backoff["cap"] = retry.cap_seconds
    if not retry.jitter:
        backoff["jitter"] = False
    if backoff:
        out["backoff"] = backoff
    if retry.retry_on:
        out["retry_on"] = list(retry.retry_on)
    if retry.no_retry_on:
        out["no_retry_on"] = list(retry.no_retry_on)
    if retry.max_interruptions is not None:
        out["max_interruptions"] = retry.max_interruptions
    return out


def _target_table(target: Target) -> dict[str, Any]:
    if isinstance(target, PythonTarget):
        return {"task": target.path}
    if isinstance(target, ShellTarget):
        out: dict[str, Any] = {"command": target.command}
        if target.cwd is not None:
            out["cwd"] = target.cwd
        if target.env:
            out["env"] = dict(target.env)
        return out
    http: dict[str, Any] = {"method": target.method, "url": target.url}
    if target.headers:
        http["headers"] = dict(target.headers)
    if target.json is not None:
        http["json"] = target.json
    if target.body is not None:
        http["body"] = target.body
    if target.expected_statuses:
        http["expected_status"] = list(target.expected_statuses)
    return {"http": http}


# Stored policy names (domain.limits.policies_to_dict) -> their keys in a job table.
_POLICY_TABLE_KEYS = {"catch_up_window_seconds": "catch_up_window", "cooldown_seconds": "cooldown"}


def _policies_table(p: Policies) -> dict[str, Any]:
    """The policy keys of a job table (``config.policies.parse_policies`` reads them): the
    stored form, with the table's key names, rates as text and calendars inline."""
    out: dict[str, Any] = {}
    for key, value in policies_to_dict(p).items():
        if key == "extra":  # keys of a newer version, which a table cannot express
            continue
        if key in ("rate_limit", "key_rate_limit"):
            limit, period = value
            value = f"{limit} per {_seconds_text(period)}"
        elif key == "calendar":
            # Inline, as stored: a calendar named in tickwork.toml was copied into the job.
            value = copy.deepcopy(value)
        out[_POLICY_TABLE_KEYS.get(key, key)] = value
    return out


def _seconds_text(seconds: float) -> str:
    """A duration that ``parse_duration`` reads back exactly: the shortest decimal that is
    the float, never in exponent form (which durations do not accept)."""
    return f"{Decimal(repr(seconds)).normalize():f}s"


def _check_job_keys(table: Table) -> None:
    # Before substitution, so that a typo is reported as such rather than as a missing variable.
    table.check_keys(JOB_KEYS)
    for key, allowed in (("http", _HTTP_KEYS), ("backoff", _BACKOFF_KEYS)):
        sub = table.sub(key)
        if sub is not None:
            sub.check_keys(allowed)
    calendar = table.data.get("calendar")
    if isinstance(calendar, dict):  # else a name, or a type that parse_policies reports
        check_calendar_keys(Table(calendar, job=table.job, prefix="calendar."))


def _job_name(table: Table, environ: Mapping[str, str]) -> str:
    if "name" not in table.data:
        raise table.error("name", "missing required key 'name'")
    raw = table.string("name")
    assert raw is not None  # "name" is present and string() rejects non-strings
    name = substitute_env(raw, environ, field="name", job=table.job)
    try:
        return validate_name(name)
    except ConfigError as exc:
        raise ConfigError(exc.reason, job=table.job, field=exc.field) from None


def _build_definition(
    table: Table,
    name: str,
    calendars: Mapping[str, dict[str, Any]],
    source: TaskSource = TaskSource.CONFIG,
) -> TaskDefinition:
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
    target_key, target = _parse_target(table)
    return TaskDefinition(
        name=name,
        target=target,
        schedule=schedule,
        timezone=timezone,
        timeout_seconds=timeout,
        retry=_parse_retry(table, max_retries),
        enabled=True if enabled is None else enabled,
        description=table.string("description") or "",
        priority=DEFAULT_PRIORITY if priority is None else priority,
        tags=_parse_tags(table),
        args=() if args is None else tuple(check_json(args, table, "args")),
        kwargs={} if kwargs is None else check_json(kwargs, table, "kwargs"),
        policies=parse_policies(
            table, calendars=calendars, timezone=timezone, target_key=target_key
        ),
        source=source,
    )


def _parse_target(table: Table) -> tuple[str, Target]:
    """The target and the key that gave it: ``task``, ``command`` or ``http``."""
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
        return kind, PythonTarget(path=validate_python_path(path.strip()))
    if kind == "command":
        command = table.string("command")
        if command is None or not command.strip():
            raise table.error("command", f"must not be empty, got {show(command)}")
        env = table.string_table("env")
        return kind, ShellTarget(command=command, cwd=table.string("cwd"), env=env)
    http = table.sub("http")
    assert http is not None  # present, and sub() rejects non-tables
    return kind, _parse_http(http)


def _parse_http(table: Table) -> HttpTarget:
    method = (table.string("method") or "GET").strip().upper()
    if method not in HTTP_METHODS:
        allowed = ", ".join(sorted(HTTP_METHODS))
        raise table.error("method", f"unsupported method {table.data['method']!r} (use {allowed})")
    url = table.string("url")
    if url is None:
        raise table.error("url", "missing required key 'url'")
    url = url.strip()
    if not _is_http_url(url):
        raise table.error("url", f"expected an http:// or https:// URL, got {show(url)}")
    headers = table.string_table("headers")
    for header, value in headers.items():
        # A line break would let a value smuggle in extra headers.
        bad_name = not header or any(char in header for char in " :\r\n")
        if bad_name or "\r" in value or "\n" in value:
            raise table.error(f"headers.{header}", f"invalid header {header!r}: {show(value)}")
    if "json" in table.data and "body" in table.data:
        raise table.error("body", "'json' and 'body' both given; use one of them")
    return HttpTarget(
        url=url,
        method=method,
        headers=headers,
        json=check_json(table.data.get("json"), table, "json"),
        body=table.string("body"),
        expected_statuses=_parse_statuses(table),
    )


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _parse_statuses(table: Table) -> tuple[int, ...]:
    value = table.data.get("expected_status")
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise table.error("expected_status", "must not be empty (leave it out to accept any 2xx)")
    for item in items:
        if not isinstance(item, int) or isinstance(item, bool) or not 100 <= item <= 599:
            raise table.error(
                "expected_status", f"expected HTTP status codes 100-599, got {describe(item)}"
            )
    return tuple(items)


def _parse_retry(table: Table, max_retries: int) -> RetryPolicy:
    lists = {key: _error_names(table, key) for key in ("retry_on", "no_retry_on")}
    max_interruptions = table.integer("max_interruptions")
    if max_interruptions is not None and max_interruptions < 0:
        raise table.error("max_interruptions", f"must be >= 0, got {max_interruptions}")
    backoff = table.sub("backoff") or Table({}, job=table.job, prefix="backoff.")
    base = backoff.duration("base")
    cap = backoff.duration("cap")
    factor = backoff.number("factor")
    if factor is not None and factor < 1:
        raise backoff.error("factor", f"must be >= 1, got {backoff.data['factor']!r}")
    jitter = backoff.boolean("jitter")
    try:
        return RetryPolicy(
            max_retries=max_retries,
            base_seconds=DEFAULT_BACKOFF_BASE_SECONDS if base is None else base,
            factor=DEFAULT_BACKOFF_FACTOR if factor is None else factor,
            cap_seconds=DEFAULT_BACKOFF_CAP_SECONDS if cap is None else cap,
            jitter=True if jitter is None else jitter,
            retry_on=lists["retry_on"],
            no_retry_on=lists["no_retry_on"],
            max_interruptions=max_interruptions,
        )
    except ConfigError as exc:
        raise table.error(exc.field or "retry_on", exc.reason) from None


def _error_names(table: Table, key: str) -> tuple[str, ...]:
    """``retry_on`` / ``no_retry_on``: a list of exception or error class names."""
    items = table.array(key) or []
    for item in items:
        if not isinstance(item, str):
            raise table.error(key, f"expected names like 'ValueError', got {describe(item)}")
    return tuple(items)


def _parse_tags(table: Table) -> tuple[str, ...]:
    tags = table.array("tags") or []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise table.error("tags", f"expected non-empty strings, got {describe(tag)}")
    return tuple(tags)
