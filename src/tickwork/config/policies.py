"""Execution policies of a job (overlap, misfire, limits, guard, calendar) and ``[calendars]``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from tickwork.config.autoschedule import job_switches
from tickwork.config.tables import Table, describe, show, substitute_tree
from tickwork.domain.dependencies import After, Requirement, parse_after, parse_requires
from tickwork.domain.limits import (
    DEFAULT_CATCH_UP_MAX,
    DEFAULT_CATCH_UP_WINDOW_SECONDS,
    MisfirePolicy,
    OverlapPolicy,
    Policies,
    RateLimit,
)
from tickwork.domain.tasks import DEFAULT_TIMEZONE, validate_python_path
from tickwork.errors import ConfigError

# Job keys (in [[jobs]] and as arguments of @app.task) that make up a task's Policies.
POLICY_KEYS = (
    "overlap",
    "misfire",
    "catch_up_window",
    "catch_up_max",
    "rate_limit",
    "key_rate_limit",
    "key_limit",
    "cooldown",
    "guard",
    "isolated",
    "calendar",
    "autoschedule",
    "after",
    "requires",
)
_E = TypeVar("_E", bound=StrEnum)
_D = TypeVar("_D", After, Requirement)


def parse_calendars(value: object, environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The ``[calendars.NAME]`` tables as name -> normalized spec (timezone default: UTC)."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"expected tables ([calendars.NAME]), got {describe(value)}", field="calendars"
        )
    calendars: dict[str, dict[str, Any]] = {}
    for name, raw in value.items():
        field = f"calendars.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"expected a table ([{field}]), got {describe(raw)}", field=field)
        check_calendar_keys(Table(raw, job=None, prefix=f"{field}."))
        spec = substitute_tree(raw, environ, job=None, path=field)
        spec.setdefault("timezone", DEFAULT_TIMEZONE)
        calendars[name] = _normalize_calendar(spec, field=field)
    return calendars


def check_calendar_keys(table: Table) -> None:
    """Unknown keys of a calendar table, with a suggestion (before any substitution)."""
    from tickwork.domain.calendars import SPEC_KEYS  # lazily: it imports `holidays` (~0.1 s)

    table.check_keys(SPEC_KEYS)


def policies_from_options(
    options: Mapping[str, object],
    *,
    job: str,
    calendars: Mapping[str, dict[str, Any]],
    timezone: str,
) -> Policies:
    """The policies of a Python task from keyword arguments (``None``: not given)."""
    given = {key: value for key, value in options.items() if value is not None}
    table = Table(given, job=job)
    table.check_keys(POLICY_KEYS)
    try:
        return parse_policies(table, calendars=calendars, timezone=timezone, target_key="task")
    except ConfigError as exc:
        raise exc.for_job(job) from None


def parse_policies(
    table: Table,
    *,
    calendars: Mapping[str, dict[str, Any]],
    timezone: str,
    target_key: str,
) -> Policies:
    """The policy keys of a job ``table``; ``target_key`` is ``task``, ``command`` or ``http``.

    ``calendars`` are the named specs a ``calendar = "NAME"`` may refer to; an inline calendar
    defaults to the job's ``timezone``.
    """
    if not any(key in table.data for key in POLICY_KEYS):
        return Policies()
    window = table.duration("catch_up_window")
    if window is not None and window <= 0:
        raise table.error(
            "catch_up_window", f"must be > 0, got {show(table.data['catch_up_window'])}"
        )
    cooldown = table.duration("cooldown")  # parse_duration rejects negative ones
    isolated = table.boolean("isolated")
    if isolated is not None and target_key != "task":
        raise table.error(
            "isolated",
            f"only allowed together with 'task', not with {target_key!r} (got {isolated!r})",
        )
    catch_up_max = _positive_int(table, "catch_up_max")
    return Policies(
        overlap=_choice(table, "overlap", OverlapPolicy) or OverlapPolicy.SKIP,
        misfire=_choice(table, "misfire", MisfirePolicy) or MisfirePolicy.SKIP,
        catch_up_window_seconds=DEFAULT_CATCH_UP_WINDOW_SECONDS if window is None else window,
        catch_up_max=DEFAULT_CATCH_UP_MAX if catch_up_max is None else catch_up_max,
        rate_limit=_rate(table, "rate_limit"),
        key_rate_limit=_rate(table, "key_rate_limit"),
        key_limit=_positive_int(table, "key_limit"),
        cooldown_seconds=0.0 if cooldown is None else cooldown,
        guard=_guard(table),
        isolated=bool(isolated),
        calendar=_calendar(table, calendars, timezone),
        autoschedule=_autoschedule(table),
        after=_dependencies(table, "after", parse_after),
        requires=_dependencies(table, "requires", parse_requires),
    )


def _autoschedule(table: Table) -> dict[str, bool]:
    value = table.data.get("autoschedule")
    return {} if value is None else job_switches(value, table)


def _dependencies(
    table: Table, key: str, parse: Callable[[object], tuple[_D, ...]]
) -> tuple[_D, ...]:
    value = table.data.get(key)
    if value is None:
        return ()
    try:
        return parse(value)
    except ConfigError as exc:
        raise table.error(key, exc.reason) from None


def _choice(table: Table, key: str, enum: type[_E]) -> _E | None:
    value = table.string(key)
    if value is None:
        return None
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise table.error(key, f"unknown policy {show(value)} (allowed: {allowed})") from None


def _positive_int(table: Table, key: str) -> int | None:
    value = table.integer(key)
    if value is not None and value < 1:
        raise table.error(key, f"must be >= 1, got {value}")
    return value


def _rate(table: Table, key: str) -> RateLimit | None:
    value = table.data.get(key)
    if value is None or isinstance(value, RateLimit):
        return value
    if not isinstance(value, str):
        raise table.error(key, f"expected a rate like '10 per 1m', got {describe(value)}")
    try:
        return RateLimit.parse(value, field=key)
    except ConfigError as exc:
        raise table.error(key, exc.reason) from None


def _guard(table: Table) -> str | None:
    guard = table.string("guard")
    if guard is None:
        return None
    try:
        return validate_python_path(guard.strip())
    except ConfigError:
        raise table.error(
            "guard", f"invalid guard {show(guard)}: expected 'package.module:function'"
        ) from None


def _calendar(
    table: Table, calendars: Mapping[str, dict[str, Any]], timezone: str
) -> dict[str, Any] | None:
    value = table.data.get("calendar")
    if value is None:
        return None
    if isinstance(value, str):
        spec = calendars.get(value.strip())
        if spec is None:
            known = ", ".join(sorted(calendars)) or "none; define one as [calendars.NAME]"
            raise table.error("calendar", f"unknown calendar {show(value)} (known: {known})")
        return copy.deepcopy(spec)
    if not isinstance(value, dict):
        raise table.error("calendar", f"expected a calendar name or a table, got {describe(value)}")
    sub = Table(value, job=table.job, prefix=f"{table.prefix}calendar.")
    check_calendar_keys(sub)
    spec = {"timezone": timezone, **value}
    try:
        return _normalize_calendar(spec, field=f"{table.prefix}calendar")
    except ConfigError as exc:
        raise (exc if table.job is None else exc.for_job(table.job)) from None


def _normalize_calendar(spec: dict[str, Any], *, field: str) -> dict[str, Any]:
    """``spec`` validated and in its normal, JSON-able form (ConfigError naming ``field``)."""
    from tickwork.domain.calendars import calendar_from_spec, calendar_to_spec

    return calendar_to_spec(calendar_from_spec(spec, field=field))
