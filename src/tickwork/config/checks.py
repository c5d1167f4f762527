"""Heartbeat checks as tables: ``[[checks]]`` in tickwork.toml, and the same keys in a check
made or changed over the API, the CLI or the dashboard (one reader for all of them).

```toml
[[checks]]
name = "db-backup"              # also the slug of /ping/{ping_key}/db-backup
period = "1d"                   # or cron = "0 3 * * *" with timezone = "Europe/Berlin"
grace = "1h"
tags = ["backups"]
description = "pg_dump on the db host"
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tickwork.config.tables import Table, describe, substitute_tree
from tickwork.domain.checks import DEFAULT_GRACE_SECONDS, CheckSpec
from tickwork.errors import ConfigError

CHECK_KEYS = ("name", "period", "cron", "timezone", "grace", "description", "tags")
# CheckSpec field -> its key in a table (where they differ).
_KEY_OF = {"period_seconds": "period", "grace_seconds": "grace"}


def check_spec(data: object, *, prefix: str = "") -> CheckSpec:
    """The check a table describes; ``ConfigError`` naming ``prefix`` + the key otherwise.
    Durations are seconds or text such as ``90s``, ``1h30m``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a table, got {describe(data)}", field=prefix[:-1] or None)
    table = Table(dict(data), job=None, prefix=prefix)
    table.check_keys(CHECK_KEYS)
    name = table.string("name")
    if name is None:
        raise table.error("name", "required")
    tags = table.array("tags") or []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise table.error(f"tags[{index}]", f"expected a string, got {describe(tag)}")
    grace = table.duration("grace")
    try:
        return CheckSpec(
            name=name,
            period_seconds=table.duration("period"),
            cron=table.string("cron") or None,
            timezone=table.string("timezone") or "UTC",
            grace_seconds=DEFAULT_GRACE_SECONDS if grace is None else grace,
            description=table.string("description") or "",
            tags=tuple(tags),
        )
    except ConfigError as exc:
        key = _KEY_OF.get(exc.field or "", exc.field or "")
        raise ConfigError(exc.reason, field=f"{prefix}{key}" if key else None) from None


def spec_table(spec: CheckSpec) -> dict[str, Any]:
    """A spec as the table that ``check_spec`` reads back (for changes over it)."""
    return {
        "name": spec.name,
        "period": spec.period_seconds,
        "cron": spec.cron,
        "timezone": spec.timezone,
        "grace": spec.grace_seconds,
        "description": spec.description,
        "tags": list(spec.tags),
    }


def changed_spec(spec: CheckSpec, changes: Mapping[str, Any]) -> CheckSpec:
    """``spec`` with ``changes`` (keys of ``CHECK_KEYS``; None: back to the default). Setting
    a cron expression drops the period and the other way round, unless both are given."""
    for key in changes:
        if key not in CHECK_KEYS:
            Table(dict(changes), job=None).check_keys(CHECK_KEYS)
    table = spec_table(spec)
    if "cron" in changes and "period" not in changes:
        table["period"] = None
    if "period" in changes and "cron" not in changes:
        table["cron"] = None
    table.update(changes)
    return check_spec({k: v for k, v in table.items() if v is not None})


def checks_from_tables(tables: object, environ: Mapping[str, str]) -> tuple[CheckSpec, ...]:
    """The ``[[checks]]`` of tickwork.toml (``${VAR}`` replaced), names unique."""
    if not isinstance(tables, list):
        raise ConfigError(f"expected [[checks]] tables, got {describe(tables)}", field="checks")
    specs: list[CheckSpec] = []
    for index, raw in enumerate(tables):
        data = substitute_tree(raw, environ, job=None, path=f"checks[{index}]")
        spec = check_spec(data, prefix=f"checks[{index}].")
        if any(s.name == spec.name for s in specs):
            raise ConfigError(f"duplicate check name {spec.name!r}", field=f"checks[{index}].name")
        specs.append(spec)
    return tuple(specs)


__all__ = ["CHECK_KEYS", "changed_spec", "check_spec", "checks_from_tables", "spec_table"]
