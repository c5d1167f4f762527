"""The [alerts] table: rules, channels, defaults, ${VAR} secrets that never show, errors."""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path

import pytest

from tickwork.config import Settings, load_config, parse_config_text
from tickwork.config.alerts import AlertSettings
from tickwork.domain.alerts import ConsecutiveFailures, FailureRate, LongRun, Scope, ScopeKind
from tickwork.domain.channels import (
    EmailChannel,
    Secret,
    SlackChannel,
    SmtpSecurity,
    WebhookChannel,
)
from tickwork.errors import ConfigError

ENV = {
    "SLACK_URL": "https://hooks.slack.test/services/T0/B0/s3cr3t-token",
    "SMTP_PASSWORD": "hunter2-password",
    "HOOK_SECRET": "whsec-very-secret",
}

FULL = """
[alerts]
base_url = "https://tickwork.example.com/"
channels_default = ["ops"]
realert = "4h"
flap_flips = 5
flap_window = "20m"
maintenance = ["sat 02:00-04:00 Europe/Berlin"]

[[alerts.rules]]
name = "nightly-failing"
kind = "consecutive_failures"
count = 3
task = "reports.nightly"

[[alerts.rules]]
name = "slow"
kind = "long_run"
max = "8m"
p95_factor = 3
tag = "etl"
channels = ["mail", "hook"]
realert = 0
maintenance = ["daily 12:00-12:30"]

[[alerts.rules]]
name = "flaky"
kind = "failure_rate"
rate = 0.25
window = "1h"

[alerts.channels.ops]
type = "slack"
webhook_url = "${SLACK_URL}"

[alerts.channels.mail]
type = "email"
host = "smtp.example.com"
security = "tls"
username = "tickwork"
password = "${SMTP_PASSWORD}"
from = "tickwork@example.com"
to = ["ops@example.com", "dev@example.com"]

[alerts.channels.hook]
type = "webhook"
url = "https://receiver.example.com/tickwork"
secret = "${HOOK_SECRET}"
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> AlertSettings:
    path = tmp_path / "tickwork.toml"
    path.write_text(text)
    return load_config(path, environ=ENV if environ is None else environ).settings.alerts


def test_no_table_means_no_rules(tmp_path: Path) -> None:
    assert load(tmp_path, "") == AlertSettings() == Settings().alerts
    assert AlertSettings().rules == () and AlertSettings().enabled


def test_the_whole_table(tmp_path: Path) -> None:
    alerts = load(tmp_path, FULL)
    assert alerts.base_url == "https://tickwork.example.com"
    nightly, slow, flaky = alerts.rules
    assert nightly.condition == ConsecutiveFailures(count=3)
    assert nightly.scope == Scope(ScopeKind.TASK, "reports.nightly")
    assert nightly.channels == ("ops",)
    assert (nightly.realert_seconds, nightly.flap_flips, nightly.flap_window_seconds) == (
        14400,
        5,
        1200,
    )
    assert [w.text for w in nightly.maintenance] == ["sat 02:00-04:00 Europe/Berlin"]
    assert slow.condition == LongRun(max_seconds=480, p95_factor=3)
    assert slow.scope == Scope(ScopeKind.TAG, "etl")
    assert slow.channels == ("mail", "hook") and slow.realert_seconds is None
    assert [w.start for w in slow.maintenance] == [time(2), time(12)]
    assert flaky.condition == FailureRate(rate=0.25, window_seconds=3600)
    assert flaky.scope == Scope()
    assert alerts.rule("flaky") is flaky and alerts.rule("nope") is None
    slack, mail, hook = (alerts.channels[n] for n in ("ops", "mail", "hook"))
    assert isinstance(slack, SlackChannel) and slack.webhook_url.reveal() == ENV["SLACK_URL"]
    assert isinstance(mail, EmailChannel)
    assert (mail.security, mail.port, mail.to) == (
        SmtpSecurity.TLS,
        465,
        ("ops@example.com", "dev@example.com"),
    )
    assert mail.password == Secret(ENV["SMTP_PASSWORD"])
    assert isinstance(hook, WebhookChannel) and hook.secret.reveal() == ENV["HOOK_SECRET"]


def test_secrets_never_show(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alerts = load(tmp_path, FULL)
    with caplog.at_level(logging.INFO):
        logging.getLogger("tickwork.test").info("alerts %s %r", alerts, alerts)
    shown = repr(alerts) + str(alerts) + caplog.text + f"{alerts.channels}"
    for secret in ENV.values():
        assert secret not in shown
    assert "Secret('<secret>')" in shown
    # A bad URL in a secret is reported without the URL.
    broken = FULL.replace('"${SLACK_URL}"', '"ftp://x/s3cr3t-token"')
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, broken)
    assert "s3cr3t" not in str(caught.value)
    assert str(caught.value) == "alerts.channels.ops.webhook_url: expected an http(s) URL"


def test_starttls_is_the_default_with_port_587(tmp_path: Path) -> None:
    text = FULL.replace('security = "tls"\n', "")
    mail = load(tmp_path, text).channels["mail"]
    assert isinstance(mail, EmailChannel)
    assert (mail.security, mail.port) == (SmtpSecurity.STARTTLS, 587)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("count = 3", "cuont = 3"), "alerts.rules[0].cuont: unknown key 'cuont'"),
        (("count = 3", "count = 0"), "alerts.rules[0].count: expected an integer >= 1"),
        (('kind = "long_run"', 'kind = "slowness"'), "alerts.rules[1].kind: unknown rule kind"),
        (('max = "8m"', 'max = "8 minutes"'), "alerts.rules[1].max: invalid duration"),
        (("realert = 0\n", "realert = true\n"), "alerts.rules[1].realert: expected seconds"),
        (
            ('tag = "etl"', 'tag = "etl"\ntask = "x"'),
            "alerts.rules[1].tag: a rule takes one of task, tag or check",
        ),
        (('"mail", "hook"', '"mail", "hoek"'), "unknown channel 'hoek' (did you mean 'hook'?)"),
        (('name = "flaky"', 'name = "slow"'), "duplicate rule name 'slow'"),
        (("flap_flips = 5", "flap_flps = 5"), "alerts.flap_flps: unknown key 'flap_flps'"),
        (('type = "webhook"', 'type = "pager"'), "alerts.channels.hook.type: expected one of"),
        (('secret = "${HOOK_SECRET}"', ""), "alerts.channels.hook.secret: required (use ${VAR}"),
        (('security = "tls"', 'security = "ssl"'), "alerts.channels.mail.security: expected one"),
        (('"dev@example.com"', '"dev"'), "alerts.channels.mail.to: not an e-mail address"),
        (('username = "tickwork"\n', ""), "alerts.channels.mail.username: username and password"),
        (("daily 12:00-12:30", "daily 12:00"), "alerts.rules[1].maintenance[0]: invalid"),
        (("${HOOK_SECRET}", "${MISSING}"), "alerts.channels.hook.secret: environment variable"),
        (('"https://tickwork.example.com/"', '"tw.example"'), "alerts.base_url: expected an"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in FULL
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, FULL.replace(old, new, 1))
    assert message in str(caught.value)


def test_a_rule_needs_a_channel(tmp_path: Path) -> None:
    text = '[[alerts.rules]]\nname = "t"\nkind = "timeout"\n'
    with pytest.raises(ConfigError, match=r"alerts.rules\[0\].channels: no channel"):
        load(tmp_path, text)


def test_cluster_rules_take_no_scope(tmp_path: Path) -> None:
    text = FULL.replace('kind = "failure_rate"', 'kind = "processor_down"\ntask = "x"')
    text = text.replace('rate = 0.25\nwindow = "1h"\n', "")
    with pytest.raises(ConfigError, match=r"alerts.rules\[2\].task: a processor_down rule"):
        load(tmp_path, text)


def test_parse_config_text_checks_the_table_too() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.bogus"):
        parse_config_text("[alerts]\nbogus = 1\n", environ={})
