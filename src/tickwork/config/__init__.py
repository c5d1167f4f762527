"""Settings and job definitions from ``tickwork.toml``, ``TICKWORK_*`` variables and CLI flags."""

from __future__ import annotations

from tickwork.config.loader import Config, load_config, parse_config_text
from tickwork.config.settings import (
    ALL_ENV_VARS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATABASE_URL,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_LOG_LEVEL,
    DEFAULT_MAX_CONCURRENT_JOBS,
    DEFAULT_MISFIRE_GRACE_SECONDS,
    DEFAULT_OUTPUT_LIMIT_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    ENV_VARS,
    LIMIT_ENV_VARS,
    LOG_LEVELS,
    SETTING_ALIASES,
    Settings,
    settings_from_env,
)
from tickwork.config.tables import substitute_env

__all__ = [
    "ALL_ENV_VARS",
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
    "LIMIT_ENV_VARS",
    "LOG_LEVELS",
    "SETTING_ALIASES",
    "Config",
    "Settings",
    "load_config",
    "parse_config_text",
    "settings_from_env",
    "substitute_env",
]
