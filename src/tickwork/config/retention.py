"""The ``[retention]`` table of tickwork.toml and its ``TICKWORK_RETENTION_*`` variables.

```toml
[retention]
runs_days = 30            # runs (and the finished jobs that go with them); 0: keep forever
keep_last_runs = 100      # per task, kept whatever their age; 0: none kept for that
events_days = 14          # run events (progress, events a task emitted)
audit_days = 365
missed_fires_days = 30
rollup_minutes_days = 2   # per-minute rollups
rollup_hours_days = 400   # hourly rollups (runs, keys, errors); daily and all-time ones stay
alerts_days = 180         # alert transitions (never those of an incident still firing)
pings_days = 30           # heartbeat checks' pings (the weekly report replays them for uptime)
keep_last_pings = 100     # per check, kept whatever their age; 0: none kept for that
interval = "10m"          # how often a worker process prunes; 0: never (`tickwork prune` still)
batch_size = 1000         # rows per transaction, at most 1000
batch_time = "20ms"       # SQLite: a slower batch halves the next one (down to 50 rows); 0: off
pause = "50ms"            # after each batch, so workers keep claiming

[retention.tasks."reports.nightly"]
runs_days = 365
keep_last_runs = 1000
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tickwork.config.tables import Table, describe, show, substitute_env, unknown_key_message
from tickwork.domain.durations import parse_duration
from tickwork.domain.retention import (
    DAY_FIELDS,
    MAX_PRUNE_BATCH_SIZE,
    TASK_FIELDS,
    RetentionPolicy,
    TaskRetention,
    check_count,
    check_days,
)
from tickwork.errors import ConfigError

# [retention] key -> RetentionPolicy field; the durations take "10m", "50ms" or seconds.
_DURATIONS = {
    "interval": "interval_seconds",
    "pause": "pause_seconds",
    "batch_time": "batch_seconds",
}
_COUNTS = {"keep_last_runs": 0, "keep_last_pings": 0, "batch_size": 1}
SCALAR_KEYS = (*DAY_FIELDS, *_COUNTS, *_DURATIONS)
RETENTION_KEYS = (*SCALAR_KEYS, "tasks")
# Each scalar key has its variable: TICKWORK_RETENTION_RUNS_DAYS, ..._INTERVAL, ...
RETENTION_ENV_VARS: Mapping[str, str] = {
    key: f"TICKWORK_RETENTION_{key.upper()}" for key in SCALAR_KEYS
}


def retention_from_table(table: object, environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``[retention]`` table's values, validated, by ``RetentionPolicy`` field."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {describe(table)}", field="retention")
    values: dict[str, Any] = {}
    for key, value in table.items():
        field = f"retention.{key}"
        if key not in RETENTION_KEYS:
            raise ConfigError(unknown_key_message(key, RETENTION_KEYS, what="key"), field=field)
        if key == "tasks":
            values["tasks"] = _task_overrides(value)
            continue
        if isinstance(value, str):
            value = substitute_env(value, environ, field=field)
        values.update(_scalar(key, value, field=field, from_text=False))
    return values


def retention_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The values of the ``TICKWORK_RETENTION_*`` variables set and non-empty in ``environ``."""
    values: dict[str, Any] = {}
    for key, variable in RETENTION_ENV_VARS.items():
        raw = environ.get(variable)
        if raw is not None and raw.strip():
            values.update(_scalar(key, raw.strip(), field=variable, from_text=True))
    return values


def retention_policy(*layers: Mapping[str, Any]) -> RetentionPolicy:
    """The policy of the defaults with ``layers`` applied in order (later ones win)."""
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer)
    return RetentionPolicy(**values)


def _scalar(key: str, value: object, *, field: str, from_text: bool) -> dict[str, Any]:
    if key in _DURATIONS:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(
                f"expected seconds or a duration like '10m', got {describe(value)}", field=field
            )
        return {_DURATIONS[key]: parse_duration(value, field=field)}
    if from_text and isinstance(value, str):
        value = _number(value, field=field, integer=key in _COUNTS)
    if key in _COUNTS:
        maximum = MAX_PRUNE_BATCH_SIZE if key == "batch_size" else None
        return {key: check_count(value, field, minimum=_COUNTS[key], maximum=maximum)}
    return {key: check_days(value, field)}


def _number(text: str, *, field: str, integer: bool) -> int | float:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"expected {kind}, got {show(text)}", field=field) from None


def _task_overrides(value: object) -> dict[str, TaskRetention]:
    if not isinstance(value, dict):
        raise ConfigError(
            f'expected tables ([retention.tasks."NAME"]), got {describe(value)}',
            field="retention.tasks",
        )
    overrides: dict[str, TaskRetention] = {}
    for name, raw in value.items():
        prefix = f"retention.tasks.{name}."
        if not isinstance(raw, dict):
            raise ConfigError(f"expected a table, got {describe(raw)}", field=prefix[:-1])
        table = Table(raw, job=None, prefix=prefix)
        table.check_keys(TASK_FIELDS)
        days = raw.get("runs_days")
        keep = raw.get("keep_last_runs")
        overrides[name] = TaskRetention(
            runs_days=None if days is None else check_days(days, prefix + "runs_days"),
            keep_last_runs=None if keep is None else check_count(keep, prefix + "keep_last_runs"),
        )
    return overrides


__all__ = [
    "RETENTION_ENV_VARS",
    "RETENTION_KEYS",
    "retention_from_env",
    "retention_from_table",
    "retention_policy",
]
