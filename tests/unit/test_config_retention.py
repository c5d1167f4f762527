"""The [retention] table, its TICKWORK_RETENTION_* variables, and the policy's cutoffs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tickwork.config import Settings, load_config
from tickwork.config.retention import RETENTION_ENV_VARS, RETENTION_KEYS
from tickwork.domain.retention import RetentionPolicy, TaskRetention, cutoff
from tickwork.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tickwork.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_table(tmp_path: Path) -> None:
    policy = load_config(write(tmp_path, ""), environ={}).settings.retention
    assert policy == RetentionPolicy() == Settings().retention
    assert (policy.runs_days, policy.keep_last_runs, policy.events_days) == (30, 100, 14)
    assert (policy.audit_days, policy.rollup_minutes_days, policy.rollup_hours_days) == (
        365,
        2,
        400,
    )
    assert (policy.interval_seconds, policy.batch_size, policy.pause_seconds) == (600, 1000, 0.05)
    assert (policy.alerts_days, policy.pings_days, policy.keep_last_pings) == (180, 30, 100)


def test_alert_transitions_and_pings(tmp_path: Path) -> None:
    path = write(tmp_path, "[retention]\nalerts_days = 90\npings_days = 0\nkeep_last_pings = 500\n")
    env = {"TICKWORK_RETENTION_PINGS_DAYS": "14"}
    policy = load_config(path, environ=env).settings.retention
    assert (policy.alerts_days, policy.pings_days, policy.keep_last_pings) == (90, 14, 500)


def test_the_table_with_task_overrides_then_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[retention]
runs_days = 7
keep_last_runs = 10
audit_days = 0
interval = "1m"
batch_size = 200
pause = "10ms"
events_days = "${EVENTS_DAYS:-3}"

[retention.tasks."reports.nightly"]
runs_days = 365

[retention.tasks.cleanup]
keep_last_runs = 0
""",
    )
    with pytest.raises(ConfigError, match=r"retention\.events_days: expected a number"):
        load_config(path, environ={})  # a string, even substituted, is not a number of days
    path.write_text(path.read_text().replace('"${EVENTS_DAYS:-3}"', "3"))
    env = {"TICKWORK_RETENTION_RUNS_DAYS": "14", "TICKWORK_RETENTION_INTERVAL": "5m"}
    policy = load_config(path, environ=env).settings.retention
    assert policy.runs_days == 14 and policy.keep_last_runs == 10  # the variable wins
    assert policy.interval_seconds == 300 and policy.batch_size == 200
    assert policy.pause_seconds == pytest.approx(0.01) and policy.events_days == 3
    assert policy.audit_days == 0  # keep forever
    assert policy.tasks == {
        "reports.nightly": TaskRetention(runs_days=365),
        "cleanup": TaskRetention(keep_last_runs=0),
    }
    assert policy.for_task("reports.nightly") == (365, 10)
    assert policy.for_task("cleanup") == (14, 0)
    assert policy.for_task("other") == (14, 10)
    # Other settings are untouched by it, and keep it when changed.
    settings = load_config(path, environ=env).settings.replace(batch_size=5)
    assert settings.retention == policy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[retention]\nrun_days = 3", "retention.run_days: unknown key 'run_days' (did you mean"),
        ("[retention]\nruns_days = -1", "retention.runs_days: must be a finite number >= 0"),
        ("[retention]\nruns_days = true", "retention.runs_days: expected a number of days"),
        ("[retention]\nkeep_last_runs = 1.5", "retention.keep_last_runs: expected an integer"),
        ("[retention]\nkeep_last_runs = -2", "retention.keep_last_runs: must be >= 0"),
        ("[retention]\nbatch_size = 0", "retention.batch_size: must be 1..1000"),
        ("[retention]\nbatch_size = 5000", "retention.batch_size: must be 1..1000"),
        ("[retention]\ninterval = 'soon'", "retention.interval: invalid duration 'soon'"),
        ("[retention]\npause = [1]", "retention.pause: expected seconds or a duration"),
        ("retention = 3", "retention: expected a table"),
        ("[retention]\ntasks = 3", "retention.tasks: expected tables"),
        ("[retention.tasks]\na = 3", "retention.tasks.a: expected a table"),
        (
            "[retention.tasks.a]\nevents_days = 3",
            "retention.tasks.a.events_days: unknown key 'events_days'",
        ),
        ("[retention.tasks.a]\nruns_days = 'x'", "retention.tasks.a.runs_days: expected a number"),
        ("[retention]\nkeep_last_pings = -1", "retention.keep_last_pings: must be >= 0"),
        ("[retention]\nalerts_days = 'x'", "retention.alerts_days: expected a number"),
    ],
)
def test_bad_tables_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TICKWORK_RETENTION_RUNS_DAYS", "a week", "expected a number, got 'a week'"),
        ("TICKWORK_RETENTION_KEEP_LAST_RUNS", "1.5", "expected an integer"),
        ("TICKWORK_RETENTION_BATCH_SIZE", "0", "must be 1..1000"),
        ("TICKWORK_RETENTION_KEEP_LAST_PINGS", "many", "expected an integer"),
        ("TICKWORK_RETENTION_PAUSE", "-1", "invalid duration '-1'"),
    ],
)
def test_bad_variables_name_themselves(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={variable: value})
    assert str(info.value).startswith(f"{variable}: ") and expected in str(info.value)


def test_every_scalar_key_has_a_variable() -> None:
    assert set(RETENTION_ENV_VARS) == set(RETENTION_KEYS) - {"tasks"}
    assert RETENTION_ENV_VARS["keep_last_runs"] == "TICKWORK_RETENTION_KEEP_LAST_RUNS"
    env = {variable: "1" for variable in RETENTION_ENV_VARS.values()}
    policy = load_config(None, environ=env).settings.retention
    assert policy.runs_days == policy.audit_days == policy.rollup_hours_days == 1
    assert policy.keep_last_runs == policy.batch_size == 1 and policy.interval_seconds == 1


def test_cutoff_is_none_for_forever() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert cutoff(now, 0) is None
    assert cutoff(now, 1.5) == now - timedelta(hours=36)
