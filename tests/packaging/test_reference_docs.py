"""The reference pages cannot drift from the code: the generated ones (CLI, REST API) must be
what scripts/gen_reference.py writes now, and the configuration reference must list exactly the
keys and environment variables the configuration code accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scripts import gen_reference

from tickwork.config import (
    alerts,
    api,
    autoschedule,
    checks,
    jobs,
    loader,
    report,
    retention,
    settings,
)
from tickwork.domain.calendars import SPEC_KEYS

REPO = Path(__file__).resolve().parents[2]
CONFIG_DOC = REPO / "docs" / "reference" / "config.md"
REGENERATE = "run `.venv/bin/python scripts/gen_reference.py` and commit the result"


@pytest.mark.parametrize("page", ["cli.md", "rest-api.md"])
def test_generated_reference_is_current(page: str) -> None:
    path = gen_reference.REFERENCE / page
    assert path.read_text() == gen_reference.pages()[path], f"{page} is out of date: {REGENERATE}"


def _sections() -> dict[str, list[str]]:
    """The first column of each table in config.md, by the heading above it."""
    sections: dict[str, list[str]] = {}
    heading = ""
    for line in CONFIG_DOC.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        found = re.match(r"^\| `([^`]+)` \|", line)
        if found:
            sections.setdefault(heading, []).append(found.group(1))
    return sections


def test_config_reference_lists_every_key_and_no_other() -> None:
    sections = _sections()
    toml_names = {v: k for k, v in settings.SETTING_ALIASES.items()}
    expected = {
        "Top-level tables": loader._TOP_LEVEL_KEYS,
        "[tickwork]": tuple(toml_names.get(name, name) for name in settings.ALL_ENV_VARS),
        "[api]": api.API_KEYS,
        "[[jobs]]": jobs.JOB_KEYS,
        "[jobs.http]": jobs._HTTP_KEYS,
        "backoff": jobs._BACKOFF_KEYS,
        "[calendars.NAME]": SPEC_KEYS,
        "[retention]": retention.RETENTION_KEYS,
        "[alerts]": alerts.ALERTS_KEYS,
        "[report]": report.REPORT_KEYS,
        "[[checks]]": checks.CHECK_KEYS,
        "[autoschedule]": autoschedule.AUTOSCHEDULE_KEYS,
    }
    for heading, keys in expected.items():
        assert sorted(sections.get(heading, [])) == sorted(keys), heading


def test_config_reference_lists_every_variable_and_no_other() -> None:
    import typer.main

    import tickwork.cli.main  # noqa: F401  (registers every command)
    from tickwork.cli.commands import app

    variables = {
        *settings.ALL_ENV_VARS.values(),
        *api.API_ENV_VARS.values(),
        *retention.RETENTION_ENV_VARS.values(),
    }
    # The variables of command-line options (TICKWORK_CONFIG, ...).
    for _, command in gen_reference._commands(typer.main.get_command(app), ["tickwork"]):
        for param in command.params:
            if param.envvar:
                variables.add(param.envvar)
    documented = _sections()["Environment variables"]
    assert sorted(documented) == sorted(variables)
