"""The REST API's settings: the ``[api]`` table of tickwork.toml and ``TICKWORK_API_*``."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tickwork.config.tables import Table, describe, show, substitute_env, unknown_key_message
from tickwork.domain.limits import RateLimit
from tickwork.domain.tasks import TaskKind
from tickwork.errors import ConfigError

DEFAULT_API_HOST = "127.0.0.1"
DEFAULT_API_PORT = 8080
DEFAULT_API_RATE_LIMIT = RateLimit(50, 1.0)
# Pings per check and client address (a cron job pings a few times per run).
DEFAULT_PING_RATE_LIMIT = RateLimit(30, 60.0)
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})

API_KEYS = (
    "host",
    "port",
    "webhook_secret",
    "trigger_secret",
    "cors_origins",
    "rate_limit",
    "job_kinds",
    "metrics_public",
    "dashboard",
    "ping_key",
    "ping_rate_limit",
)
# ApiSettings field -> environment variable that sets it.
API_ENV_VARS: Mapping[str, str] = {
    "host": "TICKWORK_API_HOST",
    "port": "TICKWORK_API_PORT",
    "webhook_secret": "TICKWORK_WEBHOOK_SECRET",
    "trigger_secret": "TICKWORK_TRIGGER_SECRET",
    "ping_key": "TICKWORK_PING_KEY",
}
# Shared secrets are compared in constant time; short ones could still be guessed.
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class ApiSettings:
    """Validated on creation, like ``Settings``."""

    host: str = DEFAULT_API_HOST
    port: int = DEFAULT_API_PORT
    webhook_secret: str | None = None  # POST /api/cron/webhook
    trigger_secret: str | None = None  # "Authorization: Bearer <secret>" on trigger routes
    cors_origins: tuple[str, ...] = ()
    rate_limit: RateLimit | None = DEFAULT_API_RATE_LIMIT  # per token or client IP; None: off
    # Kinds of job definitions that may be created over the API (shell/python run local code).
    job_kinds: frozenset[TaskKind] = frozenset({TaskKind.HTTP})
    # GET /metrics without credentials (for scrapers on a trusted network); else jobs:read.
    metrics_public: bool = False
    # The web dashboard at / beside the API; off: the API alone (GET / is then a 404).
    dashboard: bool = True
    # /ping/{ping_key}/{slug}: pings of checks by name (and ?create=1); None: that form is off.
    ping_key: str | None = None
    # Pings per check and client address; None: no limit.
    ping_rate_limit: RateLimit | None = DEFAULT_PING_RATE_LIMIT

    def __post_init__(self) -> None:
        _check_host(self.host, "api.host")
        if not isinstance(self.port, int) or isinstance(self.port, bool):
            raise ConfigError(f"expected an integer, got {describe(self.port)}", field="api.port")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"must be 0..65535, got {self.port}", field="api.port")
        for name in ("webhook_secret", "trigger_secret", "ping_key"):
            _check_secret(getattr(self, name), f"api.{name}")
        for origin in self.cors_origins:
            _check_origin(origin)
        if not isinstance(self.metrics_public, bool):
            raise ConfigError(
                f"expected true or false, got {describe(self.metrics_public)}",
                field="api.metrics_public",
            )

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.host)

    def replace(self, **changes: Any) -> ApiSettings:
        return dataclasses.replace(self, **changes)


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds only to this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_settings_from_table(
    table: object, environ: Mapping[str, str], *, base: ApiSettings | None = None
) -> ApiSettings:
    """The ``[api]`` table over ``base`` (defaults); ``${VAR}`` works in strings, so secrets
    can stay in the environment: ``trigger_secret = "${CRON_SECRET}"``."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {describe(table)}", field="api")
    data = {
        key: substitute_env(value, environ, field=f"api.{key}") if isinstance(value, str) else value
        for key, value in table.items()
    }
    t = Table(data, job=None, prefix="api.")
    for key in data:
        if key not in API_KEYS:
            raise ConfigError(unknown_key_message(key, API_KEYS, what="key"), field=f"api.{key}")
    changes: dict[str, Any] = {}
    if "host" in data:
        changes["host"] = t.string("host")
    if "port" in data:
        changes["port"] = t.integer("port")
    for name in ("webhook_secret", "trigger_secret", "ping_key"):
        if name in data:
            # An empty value (an unset "${VAR:-}") means "no secret", not an empty one.
            changes[name] = t.string(name) or None
    if "cors_origins" in data:
        origins = t.array("cors_origins") or []
        for index, origin in enumerate(origins):
            if not isinstance(origin, str):
                raise ConfigError(
                    f"expected a string, got {describe(origin)}", field=f"api.cors_origins[{index}]"
                )
        changes["cors_origins"] = tuple(origins)
    if "rate_limit" in data:
        changes["rate_limit"] = _rate_limit(data["rate_limit"], "api.rate_limit")
    if "ping_rate_limit" in data:
        changes["ping_rate_limit"] = _rate_limit(data["ping_rate_limit"], "api.ping_rate_limit")
    if "job_kinds" in data:
        changes["job_kinds"] = _job_kinds(t.array("job_kinds") or [])
    if "metrics_public" in data:
        changes["metrics_public"] = t.boolean("metrics_public")
    if "dashboard" in data:
        changes["dashboard"] = t.boolean("dashboard")
    return (base or ApiSettings()).replace(**changes)


def api_settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Validated values of TICKWORK_API_HOST, TICKWORK_API_PORT, TICKWORK_WEBHOOK_SECRET and
    TICKWORK_TRIGGER_SECRET; empty values count as unset."""
    values: dict[str, Any] = {}
    for name, variable in API_ENV_VARS.items():
        raw = environ.get(variable)
        if raw is None or not raw.strip():
            continue
        if name == "port":
            try:
                values[name] = int(raw.strip())
            except ValueError:
                raise ConfigError(f"expected an integer, got {show(raw)}", field=variable) from None
            if not 0 <= values[name] <= 65535:
                raise ConfigError(f"must be 0..65535, got {values[name]}", field=variable)
        elif name == "host":
            values[name] = _check_host(raw.strip(), variable)
        else:
            values[name] = _check_secret(raw, variable)
    return values


def _rate_limit(value: object, field: str) -> RateLimit | None:
    if value is False or value == "off":
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f"expected a rate like '50 per 1s' or \"off\", got {describe(value)}", field=field
        )
    return RateLimit.parse(value, field=field)


def _job_kinds(values: list[Any]) -> frozenset[TaskKind]:
    kinds: set[TaskKind] = set()
    for index, value in enumerate(values):
        try:
            kinds.add(TaskKind(value))
        except ValueError:
            choices = ", ".join(k.value for k in TaskKind)
            raise ConfigError(
                f"unknown job kind {show(value)}; kinds are {choices}",
                field=f"api.job_kinds[{index}]",
            ) from None
    return frozenset(kinds)


def _check_host(host: object, field: str) -> str:
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host):
        raise ConfigError(f"expected a host name or address, got {describe(host)}", field=field)
    return host


def _check_secret(secret: object, field: str) -> str | None:
    if secret is None:
        return None
    if not isinstance(secret, str):
        raise ConfigError(f"expected a string, got {describe(secret)}", field=field)
    if len(secret) < MIN_SECRET_LENGTH:
        # Never echo a secret, even a bad one.
        raise ConfigError(
            f"must be at least {MIN_SECRET_LENGTH} characters (got {len(secret)})", field=field
        )
    return secret


def _check_origin(origin: str) -> None:
    if origin == "*":
        return
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in {"http", "https"} or not rest or "/" in rest:
        raise ConfigError(
            f"expected an origin like 'https://example.com' or '*', got {show(origin)}",
            field="api.cors_origins",
        )


__all__ = [
    "API_ENV_VARS",
    "DEFAULT_API_HOST",
    "DEFAULT_API_PORT",
    "ApiSettings",
    "api_settings_from_env",
    "api_settings_from_table",
    "is_loopback",
]
