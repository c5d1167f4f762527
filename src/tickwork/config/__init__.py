"""Settings and job definitions from ``tickwork.toml``, ``TICKWORK_*`` variables and CLI flags.

Names are imported on first use: the runtime takes its defaults from ``config.settings``, and an
isolated task's child process must not pay for the TOML loader it never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwork.lazy import lazy_exports

if TYPE_CHECKING:
    from tickwork.config.loader import Config, load_config, parse_config_text
    from tickwork.config.settings import (
        ALL_ENV_VARS,
        DEFAULT_DATABASE_URL,
        DEFAULT_LOG_LEVEL,
        ENV_VARS,
        LIMIT_ENV_VARS,
        LOG_LEVELS,
        SETTING_ALIASES,
        Settings,
        settings_from_env,
    )
    from tickwork.config.tables import substitute_env
    from tickwork.domain.processors import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_LEASE_SECONDS,
        DEFAULT_MAX_CONCURRENT_JOBS,
        DEFAULT_MISFIRE_GRACE_SECONDS,
        DEFAULT_OUTPUT_LIMIT_BYTES,
        DEFAULT_POLL_INTERVAL_SECONDS,
        DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    )

_EXPORTS = {
    "Config": "tickwork.config.loader",
    "load_config": "tickwork.config.loader",
    "parse_config_text": "tickwork.config.loader",
    "ALL_ENV_VARS": "tickwork.config.settings",
    "DEFAULT_BATCH_SIZE": "tickwork.domain.processors",
    "DEFAULT_DATABASE_URL": "tickwork.config.settings",
    "DEFAULT_LEASE_SECONDS": "tickwork.domain.processors",
    "DEFAULT_LOG_LEVEL": "tickwork.config.settings",
    "DEFAULT_MAX_CONCURRENT_JOBS": "tickwork.domain.processors",
    "DEFAULT_MISFIRE_GRACE_SECONDS": "tickwork.domain.processors",
    "DEFAULT_OUTPUT_LIMIT_BYTES": "tickwork.domain.processors",
    "DEFAULT_POLL_INTERVAL_SECONDS": "tickwork.domain.processors",
    "DEFAULT_SHUTDOWN_TIMEOUT_SECONDS": "tickwork.domain.processors",
    "ENV_VARS": "tickwork.config.settings",
    "LIMIT_ENV_VARS": "tickwork.config.settings",
    "LOG_LEVELS": "tickwork.config.settings",
    "SETTING_ALIASES": "tickwork.config.settings",
    "Settings": "tickwork.config.settings",
    "settings_from_env": "tickwork.config.settings",
    "substitute_env": "tickwork.config.tables",
}

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


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
