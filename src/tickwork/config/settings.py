"""Process-wide settings: defaults, ``[tickwork]`` table, ``TICKWORK_*`` variables, overrides."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tickwork.config.alerts import AlertSettings
from tickwork.config.report import ReportSettings
from tickwork.config.tables import describe, show, substitute_env, unknown_key_message
from tickwork.domain.admission import ClaimRules
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.durations import parse_duration
from tickwork.domain.limits import RateLimit
from tickwork.domain.processors import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_CONCURRENT_JOBS,
    DEFAULT_MISFIRE_GRACE_SECONDS,
    DEFAULT_OUTPUT_LIMIT_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
)
from tickwork.domain.retention import RetentionPolicy
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS
from tickwork.errors import ConfigError
from tickwork.logs import check_log_format

DEFAULT_DATABASE_URL = "sqlite:///tickwork.db"
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_LOG_FORMAT = "text"
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
    "log_format": "TICKWORK_LOG_FORMAT",
    "max_interruptions": "TICKWORK_MAX_INTERRUPTIONS",
}

# The optional limits (unset: no limit), kept apart from ENV_VARS, whose settings always have a
# value. Settings field -> environment variable; ALL_ENV_VARS has both.
LIMIT_ENV_VARS: Mapping[str, str] = {
    "key_limit": "TICKWORK_KEY_LIMIT",
    "rate_limit": "TICKWORK_RATE_LIMIT",
}
ALL_ENV_VARS: Mapping[str, str] = {**ENV_VARS, **LIMIT_ENV_VARS}

# Short names accepted in [tickwork] and in overrides, because `poll_interval = "1s"` reads
# better than `poll_interval_seconds = "1s"` once durations may carry their own unit.
SETTING_ALIASES: Mapping[str, str] = {
    "poll_interval": "poll_interval_seconds",
    "lease": "lease_seconds",
    "shutdown_timeout": "shutdown_timeout_seconds",
    "output_limit": "output_limit_bytes",
    "misfire_grace": "misfire_grace_seconds",
}

_INT_MINIMUMS = {
    "batch_size": 1,
    "max_concurrent_jobs": 1,
    "output_limit_bytes": 1024,
    "max_interruptions": 0,
}
# Optional integers (None: unlimited) -> minimum.
_OPTIONAL_INT_MINIMUMS = {"key_limit": 1}
# Duration setting -> whether zero is allowed.
_DURATION_ZERO_OK = {
    "poll_interval_seconds": False,
    "lease_seconds": False,
    "shutdown_timeout_seconds": True,
    "misfire_grace_seconds": True,
}


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
    # "text", or "json": one object per line with the job, run and request IDs as fields.
    log_format: str = DEFAULT_LOG_FORMAT
    # How often a job may lose its worker (crash, stop) before it fails, unless its task says.
    max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    # Running jobs per concurrency key across the cluster, unless a task sets its own; None: any.
    key_limit: int | None = None
    # Job starts across the cluster; None: no cap.
    rate_limit: RateLimit | None = None
    # The [retention] table (config/retention.py): what the pruner removes, and how.
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # The [alerts] table (config/alerts.py): rules, channels, their notification defaults.
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # The [report] table (config/report.py): the weekly report's schedule and recipients.
    report: ReportSettings | None = None
    # The [autoschedule] table (config/autoschedule.py): auto-rescheduling, off by default.
    autoschedule: AutoSettings = field(default_factory=AutoSettings)

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = _validate_setting(item.name, getattr(self, item.name), field=item.name)
            # Normalises e.g. int -> float for durations; frozen, hence object.__setattr__.
            object.__setattr__(self, item.name, value)

    @property
    def claim_rules(self) -> ClaimRules:
        """The process-wide limits that claims obey (per-key concurrency, start rate)."""
        return ClaimRules(key_limit=self.key_limit, rate_limit=self.rate_limit)

    def replace(self, **changes: object) -> Settings:
        """A validated copy with ``changes`` applied.

        Keys are field names or their short names (``SETTING_ALIASES``); durations may be numbers
        of seconds or strings like ``"1s"``; ``log_level`` is case-insensitive; ``rate_limit``
        may be a string like ``"1000 per 1s"``.
        """
        # Any: each value was checked against its field by _coerce_setting, which mypy cannot see.
        values: dict[str, Any] = {}
        for key, value in changes.items():
            name = _setting_name(key, field=key)
            if name in values:
                raise ConfigError(f"{name!r} given twice (once as {key!r})", field=key)
            values[name] = _coerce_setting(name, value, field=key, from_text=False)
        return dataclasses.replace(self, **values)


def settings_from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """Validated settings (by field name) from the variables set and non-empty in ``environ``.

    Variables: TICKWORK_DATABASE_URL, TICKWORK_BATCH_SIZE, TICKWORK_MAX_CONCURRENT_JOBS,
    TICKWORK_POLL_INTERVAL, TICKWORK_LEASE, TICKWORK_SHUTDOWN_TIMEOUT, TICKWORK_OUTPUT_LIMIT
    (bytes), TICKWORK_MISFIRE_GRACE, TICKWORK_LOG_LEVEL, TICKWORK_LOG_FORMAT,
    TICKWORK_MAX_INTERRUPTIONS,
    TICKWORK_KEY_LIMIT and
    TICKWORK_RATE_LIMIT (``"1000 per 1s"``; see ``ALL_ENV_VARS``). Durations take seconds or
    strings like ``"1s"``. Empty values count as unset, as container tools often export every
    listed variable.
    """
    values: dict[str, object] = {}
    for name, variable in ALL_ENV_VARS.items():
        raw = environ.get(variable)
        if raw is not None and raw.strip():
            values[name] = _coerce_setting(name, raw, field=variable, from_text=True)
    return values


def settings_from_table(table: object, environ: Mapping[str, str]) -> dict[str, object]:
    """The validated settings (by field name) of a ``[tickwork]`` table."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {describe(table)}", field="tickwork")
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


def _setting_name(key: str, *, field: str) -> str:
    name = SETTING_ALIASES.get(key, key)
    if name not in ALL_ENV_VARS:
        candidates = (*ALL_ENV_VARS, *SETTING_ALIASES)
        raise ConfigError(unknown_key_message(key, candidates, what="setting"), field=field)
    return name


def _coerce_setting(name: str, value: object, *, field: str, from_text: bool) -> object:
    """``value`` converted to the type of setting ``name`` and validated."""
    given = value
    is_int = name in _INT_MINIMUMS or name in _OPTIONAL_INT_MINIMUMS
    if is_int and from_text and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"expected an integer, got {show(value)}", field=field) from None
    elif name in _DURATION_ZERO_OK and isinstance(value, str | int | float):
        value = parse_duration(value, field=field)
    elif name == "log_level" and isinstance(value, str):
        value = value.strip().upper()
    elif name == "rate_limit" and isinstance(value, str):
        value = RateLimit.parse(value, field=field)
    return _validate_setting(name, value, field=field, given=given)


def _validate_setting(name: str, value: object, *, field: str, given: object = None) -> object:
    """``value`` checked (and durations made float); messages show ``given``, the raw input."""
    shown = show(value if given is None else given)
    if name == "retention":
        if not isinstance(value, RetentionPolicy):
            raise ConfigError(f"expected a RetentionPolicy, got {describe(value)}", field=field)
        return value
    if name == "alerts":
        if not isinstance(value, AlertSettings):
            raise ConfigError(f"expected an AlertSettings, got {describe(value)}", field=field)
        return value
    if name == "autoschedule":
        if not isinstance(value, AutoSettings):
            raise ConfigError(f"expected an AutoSettings, got {describe(value)}", field=field)
        return value
    if name == "report":
        if value is not None and not isinstance(value, ReportSettings):
            raise ConfigError(f"expected a ReportSettings, got {describe(value)}", field=field)
        return value
    if name in _OPTIONAL_INT_MINIMUMS or name == "rate_limit":
        if value is None:
            return None
        if name == "rate_limit":
            if not isinstance(value, RateLimit):
                raise ConfigError(
                    f"expected a rate like '1000 per 1s', got {describe(value)}", field=field
                )
            return value
        minimum = _OPTIONAL_INT_MINIMUMS[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {describe(value)}", field=field)
        if value < minimum:
            raise ConfigError(f"must be >= {minimum}, got {shown}", field=field)
        return value
    if name in _INT_MINIMUMS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {describe(value)}", field=field)
        if value < _INT_MINIMUMS[name]:
            raise ConfigError(f"must be >= {_INT_MINIMUMS[name]}, got {shown}", field=field)
        return value
    if name in _DURATION_ZERO_OK:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(
                f"expected seconds or a duration like '30s', got {describe(value)}", field=field
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
    if name == "log_format":
        return check_log_format(value if given is None else given, field=field)
    # database_url: its scheme is checked by the store, which knows the supported drivers.
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty string, got {describe(value)}", field=field)
    return value
