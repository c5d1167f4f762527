"""The ``[alerts]`` table of tickwork.toml: rules, channels and their defaults.

```toml
[alerts]
enabled = true                              # false: rules are checked, nothing is sent
base_url = "https://tickwork.example.com"   # run links in messages
channels_default = ["ops"]                  # for rules that name none
realert = "4h"                              # while firing, unless acknowledged; 0: never
flap_flips = 4                              # more changes than this within flap_window: flapping
flap_window = "30m"
maintenance = ["sat 02:00-04:00 Europe/Berlin"]   # every rule's, besides its own

[[alerts.rules]]
name = "nightly-failing"
kind = "consecutive_failures"
count = 3
task = "reports.nightly"                    # or tag = "..."; neither: every task

[[alerts.rules]]
name = "heartbeats"
kind = "check_down"                         # a heartbeat check went down ([[checks]])
tag = "backups"                             # or check = "NAME"; neither: every check

[alerts.channels.ops]
type = "slack"
webhook_url = "${SLACK_WEBHOOK_URL}"
```

Strings take ``${VAR}`` substitution, so secrets stay out of the file; they are kept as
``Secret`` values, which never show in ``repr``, logs or errors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tickwork.config.tables import Table, describe, substitute_tree, unknown_key_message
from tickwork.domain.alerts import (
    CONDITIONS,
    DEFAULT_FLAP_FLIPS,
    DEFAULT_FLAP_WINDOW_SECONDS,
    AlertRule,
    Condition,
    Scope,
    ScopeKind,
)
from tickwork.domain.channels import (
    Channel,
    ChannelKind,
    EmailChannel,
    Secret,
    SlackChannel,
    SmtpSecurity,
    WebhookChannel,
)
from tickwork.domain.maintenance import MaintenanceWindow
from tickwork.errors import ConfigError

ALERTS_KEYS = (
    "enabled",
    "base_url",
    "channels_default",
    "realert",
    "flap_flips",
    "flap_window",
    "maintenance",
    "rules",
    "channels",
)
_RULE_COMMON: tuple[str, ...] = ("name", "kind", "task", "tag", "check", "channels", "realert")
_RULE_COMMON += ("flap_flips", "flap_window", "maintenance")
# Each kind's own keys: TOML key -> (Condition field, how it is read).
_KIND_KEYS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "consecutive_failures": {"count": ("count", "integer")},
    "failure_window": {"failures": ("failures", "integer"), "runs": ("runs", "integer")},
    "failure_rate": {
        "rate": ("rate", "number"),
        "window": ("window_seconds", "duration"),
        "min_runs": ("min_runs", "integer"),
    },
    "batch_failures": {"min_finished": ("min_finished", "integer")},
    "long_run": {"max": ("max_seconds", "duration"), "p95_factor": ("p95_factor", "number")},
    "timeout": {},
    "missed_fire": {"grace": ("grace_seconds", "duration")},
    "processor_down": {"after": ("after_seconds", "duration")},
    "backlog_age": {"max_age": ("max_age_seconds", "duration")},
    "channel_failing": {"failures": ("failures", "integer")},
    "check_down": {},
    "auto_disabled": {},
    "auto_rescheduled": {},
}
_CHANNEL_KEYS: Mapping[str, tuple[str, ...]] = {
    "slack": ("type", "webhook_url"),
    "email": ("type", "host", "port", "security", "username", "password", "from", "to"),
    "webhook": ("type", "url", "secret"),
}
_T = TypeVar("_T")
_DEFAULT_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


@dataclass(frozen=True)
class AlertSettings:
    """The rules and channels of ``[alerts]``, checked against each other."""

    enabled: bool = True
    base_url: str | None = None
    rules: tuple[AlertRule, ...] = ()
    channels: Mapping[str, Channel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names: set[str] = set()
        for rule in self.rules:
            if rule.name in names:
                raise ConfigError(f"duplicate rule name {rule.name!r}", field="alerts.rules")
            names.add(rule.name)
            for channel in rule.channels:
                if channel not in self.channels:
                    message = unknown_key_message(channel, self.channels, what="channel")
                    raise ConfigError(message, field=f"alerts.rules.{rule.name}.channels")

    def rule(self, name: str) -> AlertRule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


def alerts_from_table(table: object, environ: Mapping[str, str]) -> AlertSettings:
    """The ``[alerts]`` table, validated, with ``${VAR}`` replaced from ``environ``."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {describe(table)}", field="alerts")
    data = substitute_tree(table, environ, job=None, path="alerts")
    top = Table(data, job=None, prefix="alerts.")
    top.check_keys(ALERTS_KEYS)
    channels = _channels(top)
    defaults = _string_list(top, "channels_default")
    realert = top.duration("realert")
    base = {
        "realert_seconds": realert or None,
        "flap_flips": _or(top.integer("flap_flips"), DEFAULT_FLAP_FLIPS),
        "flap_window_seconds": _or(top.duration("flap_window"), DEFAULT_FLAP_WINDOW_SECONDS),
        "maintenance": _windows(top),
    }
    rules = []
    for index, raw in enumerate(top.array("rules") or []):
        if not isinstance(raw, dict):
            raise top.error(f"rules[{index}]", f"expected a table, got {describe(raw)}")
        rules.append(_rule(Table(raw, job=None, prefix=f"alerts.rules[{index}]."), base, defaults))
    base_url = top.string("base_url")
    if base_url is not None and not re.match(r"https?://[^/\s]+", base_url):
        raise top.error("base_url", f"expected an http(s) URL, got {base_url!r}")
    return _wrap(
        "alerts",
        lambda: AlertSettings(
            enabled=_or(top.boolean("enabled"), True),
            base_url=None if base_url is None else base_url.rstrip("/"),
            rules=tuple(rules),
            channels=channels,
        ),
    )


def _rule(table: Table, base: Mapping[str, Any], defaults: tuple[str, ...]) -> AlertRule:
    kind = table.string("kind")
    if kind is None:
        raise table.error("kind", f"required; one of {', '.join(CONDITIONS)}")
    if kind not in CONDITIONS:
        raise table.error("kind", unknown_key_message(kind, CONDITIONS, what="rule kind"))
    own = _KIND_KEYS[kind]
    table.check_keys((*_RULE_COMMON, *own))
    name = table.string("name")
    if name is None:
        raise table.error("name", "required")
    values: dict[str, Any] = {}
    for key, (attribute, how) in own.items():
        value = getattr(table, how)(key)
        if value is not None:
            values[attribute] = value
    condition: Condition = _wrap(table.prefix[:-1], lambda: CONDITIONS[kind](**values))
    task, tag, check = table.string("task"), table.string("tag"), table.string("check")
    if sum(value is not None for value in (task, tag, check)) > 1:
        raise table.error("tag", "a rule takes one of task, tag or check")
    if check is not None:
        scope = Scope(ScopeKind.CHECK, check)
    elif task is not None:
        scope = Scope(ScopeKind.TASK, task)
    elif tag is not None:
        scope = Scope(ScopeKind.TAG, tag)
    else:
        scope = Scope()
    realert = table.duration("realert")
    own_settings = {
        "realert_seconds": base["realert_seconds"] if realert is None else (realert or None),
        "flap_flips": _or(table.integer("flap_flips"), base["flap_flips"]),
        "flap_window_seconds": _or(table.duration("flap_window"), base["flap_window_seconds"]),
        "maintenance": base["maintenance"] + _windows(table),
    }
    channels = _string_list(table, "channels") or defaults
    if not channels:
        raise table.error("channels", "no channel (set channels, or [alerts] channels_default)")
    return _wrap(
        table.prefix[:-1],
        lambda: AlertRule(
            name=name, condition=condition, scope=scope, channels=channels, **own_settings
        ),
    )


def _channels(top: Table) -> dict[str, Channel]:
    tables = top.table("channels") or {}
    channels: dict[str, Channel] = {}
    for name, raw in tables.items():
        prefix = f"alerts.channels.{name}."
        if not isinstance(raw, dict):
            raise ConfigError(f"expected a table, got {describe(raw)}", field=prefix[:-1])
        table = Table(raw, job=None, prefix=prefix)
        kind = table.string("type") or ""
        if kind not in _CHANNEL_KEYS:
            known = ", ".join(ChannelKind)
            raise table.error("type", f"expected one of {known}, got {describe(kind)}")
        table.check_keys(_CHANNEL_KEYS[kind])
        channels[name] = _wrap(prefix[:-1], functools.partial(_channel, table, kind, name))
    return channels


def _channel(table: Table, kind: str, name: str) -> Channel:
    if kind == "slack":
        return SlackChannel(name, webhook_url=_secret(table, "webhook_url"))
    if kind == "webhook":
        return WebhookChannel(name, url=_required(table, "url"), secret=_secret(table, "secret"))
    security_text = table.string("security") or SmtpSecurity.STARTTLS.value
    if security_text not in tuple(SmtpSecurity):
        known = ", ".join(SmtpSecurity)
        raise table.error("security", f"expected one of {known}, got {security_text!r}")
    security = SmtpSecurity(security_text)
    password = table.string("password")
    return EmailChannel(
        name,
        host=_required(table, "host"),
        port=_or(table.integer("port"), _DEFAULT_PORTS[security]),
        security=security,
        username=table.string("username"),
        password=None if password is None else Secret(password),
        sender=_required(table, "from"),
        to=_string_list(table, "to"),
    )


def _secret(table: Table, key: str) -> Secret:
    value = table.string(key)
    if not value:
        raise table.error(key, "required (use ${VAR} to keep it out of the file)")
    return Secret(value)


def _required(table: Table, key: str) -> str:
    value = table.string(key)
    if not value:
        raise table.error(key, "required")
    return value


def _string_list(table: Table, key: str) -> tuple[str, ...]:
    values = table.array(key) or []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise table.error(f"{key}[{index}]", f"expected a string, got {describe(value)}")
    return tuple(values)


def _windows(table: Table) -> tuple[MaintenanceWindow, ...]:
    field = table.prefix + "maintenance"
    return tuple(
        MaintenanceWindow.parse(text, field=f"{field}[{index}]")
        for index, text in enumerate(_string_list(table, "maintenance"))
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _wrap(prefix: str, build: Callable[[], _T]) -> _T:
    """``build()``, its ``ConfigError`` (which names a bare field) named under ``prefix``."""
    try:
        return build()
    except ConfigError as exc:
        if exc.field is not None and exc.field.startswith("alerts"):
            raise
        inner = "" if exc.field is None else f".{exc.field}"
        raise ConfigError(exc.reason, field=f"{prefix}{inner}") from None


__all__ = ["ALERTS_KEYS", "AlertSettings", "alerts_from_table"]
