"""Reading ``tickwork.toml`` into a ``Config``: the file, its top-level tables, precedence."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickwork.config.alerts import AlertSettings, alerts_from_table
from tickwork.config.api import ApiSettings, api_settings_from_env, api_settings_from_table
from tickwork.config.autoschedule import autoschedule_from_table
from tickwork.config.checks import checks_from_tables
from tickwork.config.jobs import JOB_KEYS, parse_jobs
from tickwork.config.policies import parse_calendars
from tickwork.config.report import ReportSettings, report_from_table
from tickwork.config.retention import (
    retention_from_env,
    retention_from_table,
    retention_policy,
)
from tickwork.config.settings import Settings, settings_from_env, settings_from_table
from tickwork.config.tables import unknown_key_message
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.checks import CheckSpec
from tickwork.domain.tasks import TaskDefinition
from tickwork.errors import ConfigError

_TOP_LEVEL_KEYS = (
    "tickwork",
    "jobs",
    "calendars",
    "api",
    "retention",
    "alerts",
    "report",
    "checks",
    "autoschedule",
)


@dataclass(frozen=True)
class Config:
    """Everything ``load_config`` found: settings, the file's task definitions and the file."""

    settings: Settings
    tasks: tuple[TaskDefinition, ...]
    path: Path | None
    # [calendars.NAME] -> normalized spec (domain/calendars.py), for `calendar = "NAME"`.
    calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The [api] table over defaults, then TICKWORK_API_* variables (see config/api.py).
    api: ApiSettings = field(default_factory=ApiSettings)
    # The [[checks]]: heartbeat checks synced by each process (config/checks.py).
    checks: tuple[CheckSpec, ...] = ()


def load_config(
    path: Path | str | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Read and fully validate ``path`` (``None``: no file) into a ``Config``; writes nothing.

    Settings precedence: ``overrides`` (CLI flags; ``None`` values are ignored) > environment
    (``settings_from_env``) > the file's ``[tickwork]`` table > defaults. ``environ`` defaults to
    ``os.environ``. Raises ``ConfigError`` (one line) for a missing/unreadable file and for any
    invalid setting, calendar or job.
    """
    env = os.environ if environ is None else environ
    file_settings: dict[str, object] = {}
    tasks: tuple[TaskDefinition, ...] = ()
    calendars: dict[str, dict[str, Any]] = {}
    api = ApiSettings()
    retention: dict[str, object] = {}
    alerts = AlertSettings()
    report: ReportSettings | None = None
    checks: tuple[CheckSpec, ...] = ()
    autoschedule = AutoSettings()
    config_path = None if path is None else Path(path)
    if config_path is not None:
        text = _read_config_file(config_path)
        data = _load_toml(text, str(config_path))
        file_settings, tasks, calendars = _parse_tables(data, environ=env)
        api = api_settings_from_table(data.get("api", {}), env)
        retention = retention_from_table(data.get("retention", {}), env)
        alerts = alerts_from_table(data.get("alerts", {}), env)
        report = report_from_table(data.get("report"), env, alerts)
        checks = checks_from_tables(data.get("checks", []), env)
        autoschedule = autoschedule_from_table(data.get("autoschedule"))
    flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    settings = Settings().replace(**file_settings).replace(**settings_from_env(env))
    policy = retention_policy(retention, retention_from_env(env))
    settings = dataclasses.replace(
        settings, retention=policy, alerts=alerts, report=report, autoschedule=autoschedule
    )
    return Config(
        settings=settings.replace(**flags),
        tasks=tasks,
        path=config_path,
        calendars=calendars,
        api=api.replace(**api_settings_from_env(env)),
        checks=checks,
    )


def parse_config_text(
    text: str, *, environ: Mapping[str, str], source_name: str = "tickwork.toml"
) -> tuple[dict[str, object], tuple[TaskDefinition, ...]]:
    """The ``[tickwork]`` settings (validated, by field name) and the ``[[jobs]]`` of ``text``.

    ``source_name`` only appears in TOML syntax errors.
    """
    data = _load_toml(text, source_name)
    settings, tasks, _ = _parse_tables(data, environ=environ)
    api_settings_from_table(data.get("api", {}), environ)  # validated, like the rest
    retention_from_table(data.get("retention", {}), environ)
    alerts = alerts_from_table(data.get("alerts", {}), environ)
    report_from_table(data.get("report"), environ, alerts)
    checks_from_tables(data.get("checks", []), environ)
    autoschedule_from_table(data.get("autoschedule"))
    return settings, tasks


def _load_toml(text: str, source_name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(f"{source_name}: invalid TOML: {exc}") from None


def _parse_tables(
    data: dict[str, Any], *, environ: Mapping[str, str]
) -> tuple[dict[str, object], tuple[TaskDefinition, ...], dict[str, dict[str, Any]]]:
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            hint = " (a job key above the first [[jobs]]?)" if key in JOB_KEYS else ""
            message = unknown_key_message(key, _TOP_LEVEL_KEYS, what="top-level key")
            raise ConfigError(message + hint, field=key)
    settings = settings_from_table(data.get("tickwork", {}), environ)
    calendars = parse_calendars(data.get("calendars", {}), environ)
    return settings, parse_jobs(data.get("jobs", []), environ, calendars), calendars


def _read_config_file(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} is not a file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid UTF-8: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    # Editors on Windows may prepend a BOM, which tomllib rejects.
    return text.removeprefix("\ufeff")
