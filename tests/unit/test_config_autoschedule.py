"""The [autoschedule] table (off unless enabled) and a job's own ``autoschedule`` switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwork.config import load_config
from tickwork.config.jobs import definition_table
from tickwork.domain.autoschedule import AutoSettings, Rule
from tickwork.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tickwork.toml"
    path.write_text(text)
    return path


def test_off_by_default(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, ""), environ={}).settings.autoschedule
    assert settings == AutoSettings() and not settings.enabled
    assert settings.rules == set(Rule) and settings.window == 100


def test_the_table(tmp_path: Path) -> None:
    text = """
[autoschedule]
enabled = true
interval = "30m"
cooldown = "2h"
rules = ["keep", "breaker"]
failures_in_a_row = 5
keep_share = 0.9
"""
    s = load_config(write(tmp_path, text), environ={}).settings.autoschedule
    assert s.enabled and s.interval_seconds == 1800 and s.cooldown_seconds == 7200
    assert s.rules == {Rule.KEEP, Rule.BREAKER}
    assert (s.failures_in_a_row, s.keep_share) == (5, 0.9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("enabled = 1", "autoschedule.enabled: expected true or false"),
        ('rules = ["keep", "magic"]', "autoschedule.rules: unknown rule 'magic'"),
        ("window = 0", "autoschedule.window: expected an integer >= 1"),
        ("timeout_share = 2.0", "autoschedule.timeout_share: expected a share in (0, 1]"),
        ('cooldown = "soon"', "autoschedule.cooldown"),
        ("windw = 10", "autoschedule.windw: unknown key"),
    ],
)
def test_bad_tables_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"[autoschedule]\n{text}\n"), environ={})
    assert expected in str(caught.value)


JOB = """
[[jobs]]
name = "etl"
command = "true"
schedule = "*/5 * * * *"
"""


def test_a_jobs_switches(tmp_path: Path) -> None:
    off = load_config(write(tmp_path, JOB + "autoschedule = false\n"), environ={}).tasks[0]
    assert off.policies.autoschedule == dict.fromkeys((r.value for r in Rule), False)
    some = JOB + "autoschedule = { breaker = false, spread = true }\n"
    [task] = load_config(write(tmp_path, some), environ={}).tasks
    assert task.policies.autoschedule == {"breaker": False, "spread": True}
    # As a [[jobs]] table again (what the API shows and takes).
    assert definition_table(task)["autoschedule"] == {"breaker": False, "spread": True}
    for bad, expected in (
        ('autoschedule = "no"', "expected true, false or a table of rules"),
        ("autoschedule = { nap = false }", "unknown rule 'nap'"),
        ('autoschedule = { keep = "yes" }', "keep: expected true or false"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, JOB + bad + "\n"), environ={})
        assert "job 'etl': autoschedule: " + expected in str(caught.value)
