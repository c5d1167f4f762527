"""The [report] table: defaults, ${VAR} substitution, and errors naming the field (checked
against the e-mail channels of [alerts])."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwork.config import load_config, parse_config_text
from tickwork.config.report import ReportSettings
from tickwork.errors import ConfigError

CHANNELS = """
[alerts.channels.mail]
type = "email"
host = "smtp.example.com"
from = "tickwork@example.com"
to = ["ops@example.com"]

[alerts.channels.ops]
type = "slack"
webhook_url = "https://hooks.slack.test/services/T0/B0/x"
"""


def load(tmp_path: Path, report: str, env: dict[str, str] | None = None) -> ReportSettings | None:
    path = tmp_path / "tickwork.toml"
    path.write_text(CHANNELS + report)
    return load_config(path, environ=env or {}).settings.report


def test_defaults_and_substitution(tmp_path: Path) -> None:
    assert load(tmp_path, "") is None
    settings = load(
        tmp_path,
        '[report]\nrecipients = ["${TEAM}", "cto@example.com"]\nchannel = "mail"\n',
        {"TEAM": "team@example.com"},
    )
    assert settings == ReportSettings(
        recipients=("team@example.com", "cto@example.com"),
        channel="mail",
        schedule="0 9 * * MON",
        timezone="UTC",
        since="7d",
    )
    full = load(
        tmp_path,
        '[report]\nrecipients = ["a@example.com"]\nchannel = "mail"\nschedule = "30 8 * * 1-5"\n'
        'timezone = "Europe/Berlin"\nsince = "1d"\n',
    )
    assert full is not None
    assert (full.schedule, full.timezone, full.since) == ("30 8 * * 1-5", "Europe/Berlin", "1d")


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ('channel = "mail"', "report.recipients", "at least one"),
        ('recipients = []\nchannel = "mail"', "report.recipients", "at least one"),
        ('recipients = "a@example.com"\nchannel = "mail"', "report.recipients", "array"),
        (
            'recipients = ["a@example.com", "nobody"]\nchannel = "mail"',
            "report.recipients[1]",
            "nobody",
        ),
        ("recipients = [3]\nchannel = 'mail'", "report.recipients[0]", "string"),
        ('recipients = ["a@example.com"]', "report.channel", "required"),
        ('recipients = ["a@example.com"]\nchannel = "mial"', "report.channel", "'mail'"),
        ('recipients = ["a@example.com"]\nchannel = "ops"', "report.channel", "slack"),
        (
            'recipients = ["a@example.com"]\nchannel = "mail"\nschedule = "61 * * * *"',
            "report.schedule",
            "61",
        ),
        (
            'recipients = ["a@example.com"]\nchannel = "mail"\ntimezone = "Mars/Base"',
            "report.timezone",
            "Mars/Base",
        ),
        (
            'recipients = ["a@example.com"]\nchannel = "mail"\nsince = "30s"',
            "report.since",
            "1h to 366d",
        ),
        (
            'recipients = ["a@example.com"]\nchannel = "mail"\nsince = "soon"',
            "report.since",
            "soon",
        ),
        (
            'recipients = ["a@example.com"]\nchannel = "mail"\nsend_to = 1',
            "report.send_to",
            "unknown key",
        ),
        ('recipients = ["${NOPE}"]\nchannel = "mail"', "report.recipients[0]", "NOPE"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, table: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[report]\n{table}\n")
    assert caught.value.field == field, str(caught.value)
    assert words in str(caught.value)
    # The same check when a config's text is validated on its own.
    with pytest.raises(ConfigError):
        parse_config_text(CHANNELS + f"[report]\n{table}\n", environ={})


def test_a_report_needs_the_alerts_channel(tmp_path: Path) -> None:
    path = tmp_path / "tickwork.toml"
    path.write_text('[report]\nrecipients = ["a@example.com"]\nchannel = "mail"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.field == "report.channel" and "[alerts.channels.mail]" in str(caught.value)
    path.write_text("report = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.field == "report"
