"""The ``[autoschedule]`` table of tickwork.toml: auto-rescheduling, off unless ``enabled``.

```toml
[autoschedule]
enabled = true            # off by default: schedules change only when asked
interval = "1h"           # how often the scheduler process evaluates the rules
batch_size = 50           # jobs whose runs are read together
rules = ["keep", "stretch", "timeouts", "spread", "breaker"]   # the rules on (default: all)
window = 100              # the last runs looked at
min_runs = 10             # runs needed (since the last change) before keep/stretch/timeouts act
keep_share = 0.95         # keep: this share of the last runs succeeded
timeout_share = 0.2       # timeouts: this share of the last runs timed out
failures_in_a_row = 3     # breaker: opens after this many consecutive failures
cooldown = "1h"           # breaker: then one trial run
max_stride = 8            # stretch/timeouts: at most every 8th fire
pile_up = 10              # spread: this many schedules on one second
```

A job turns rules off (or on) for itself: ``autoschedule = false`` (all off), or
``autoschedule = { breaker = false }``.
"""

from __future__ import annotations

from typing import Any

from tickwork.config.tables import Table, describe, unknown_key_message
from tickwork.domain.autoschedule import AutoSettings, Rule, check_switches
from tickwork.errors import ConfigError

_DURATIONS = {"interval": "interval_seconds", "cooldown": "cooldown_seconds"}
_INTEGERS = ("batch_size", "window", "min_runs", "failures_in_a_row", "max_stride", "pile_up")
_SHARES = ("keep_share", "timeout_share")
AUTOSCHEDULE_KEYS = ("enabled", "rules", *_DURATIONS, *_INTEGERS, *_SHARES)


def autoschedule_from_table(value: object) -> AutoSettings:
    """The ``[autoschedule]`` table, validated (absent: ``AutoSettings()``, off)."""
    if value is None:
        return AutoSettings()
    if not isinstance(value, dict):
        raise ConfigError(f"expected a table, got {describe(value)}", field="autoschedule")
    table = Table(value, job=None, prefix="autoschedule.")
    for key in value:
        if key not in AUTOSCHEDULE_KEYS:
            raise table.error(key, unknown_key_message(key, AUTOSCHEDULE_KEYS, what="key"))
    values: dict[str, Any] = {}
    enabled = table.boolean("enabled")
    if enabled is not None:
        values["enabled"] = enabled
    for key, name in _DURATIONS.items():
        seconds = table.duration(key)
        if seconds is not None:
            values[name] = seconds
    for key in _INTEGERS:
        number = table.integer(key)
        if number is not None:
            values[key] = number
    for key in _SHARES:
        share = table.number(key)
        if share is not None:
            values[key] = share
    rules = table.array("rules")
    if rules is not None:
        if not all(isinstance(name, str) for name in rules):
            raise table.error("rules", f"expected rule names, got {describe(rules)}")
        check_switches(dict.fromkeys(rules, True), field_name="autoschedule.rules")
        values["rules"] = frozenset(Rule(name) for name in rules)
    try:
        return AutoSettings(**values)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field=f"autoschedule.{exc.field}") from None


def job_switches(value: object, table: Table) -> dict[str, bool]:
    """A job's ``autoschedule``: ``false``/``true`` (every rule off/on) or a table of rule
    switches."""
    if isinstance(value, bool):
        return dict.fromkeys((r.value for r in Rule), value)
    if not isinstance(value, dict):
        raise table.error(
            "autoschedule", f"expected true, false or a table of rules, got {describe(value)}"
        )
    try:
        check_switches(value)
    except ConfigError as exc:
        raise table.error("autoschedule", exc.reason) from None
    return dict(value)
