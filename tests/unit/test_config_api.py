"""The [api] table and TICKWORK_API_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwork.config import load_config
from tickwork.config.api import ApiSettings, is_loopback
from tickwork.domain.limits import RateLimit
from tickwork.domain.tasks import TaskKind
from tickwork.errors import ConfigError

SECRET = "0123456789abcdef-secret"


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ApiSettings:
    path = tmp_path / "tickwork.toml"
    path.write_text(text)
    return load_config(path, environ=environ or {}).api


def test_defaults() -> None:
    api = ApiSettings()
    assert (api.host, api.port) == ("127.0.0.1", 8080)
    assert api.rate_limit == RateLimit(50, 1.0)
    assert api.job_kinds == frozenset({TaskKind.HTTP})
    assert api.cors_origins == () and api.webhook_secret is None and api.loopback_only


def test_table_with_secrets_from_the_environment(tmp_path: Path) -> None:
    api = load(
        tmp_path,
        """
[api]
host = "0.0.0.0"
port = 9000
trigger_secret = "${CRON_SECRET}"
webhook_secret = "${HOOK_SECRET:-}"
cors_origins = ["https://ops.example.com"]
rate_limit = "10 per 1m"
job_kinds = ["http", "shell"]
""",
        {"CRON_SECRET": SECRET},
    )
    assert (api.host, api.port, api.trigger_secret) == ("0.0.0.0", 9000, SECRET)
    assert api.webhook_secret is None  # empty means "none"
    assert api.cors_origins == ("https://ops.example.com",)
    assert api.rate_limit == RateLimit(10, 60.0)
    assert api.job_kinds == frozenset({TaskKind.HTTP, TaskKind.SHELL})
    assert not api.loopback_only


def test_environment_overrides_the_table(tmp_path: Path) -> None:
    env = {"TICKWORK_API_PORT": "9100", "TICKWORK_API_HOST": "::1"}
    env["TICKWORK_WEBHOOK_SECRET"] = SECRET
    api = load(tmp_path, "[api]\nport = 9000\n", env)
    assert (api.host, api.port, api.webhook_secret) == ("::1", 9100, SECRET)
    assert api.loopback_only


def test_rate_limit_off(tmp_path: Path) -> None:
    assert load(tmp_path, '[api]\nrate_limit = "off"\n').rate_limit is None


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("[api]\nprot = 1\n", "api.prot", "did you mean 'port'"),
        ("[api]\nport = 70000\n", "api.port", "0..65535"),
        ('[api]\nport = "80"\n', "api.port", "expected an integer"),
        ('[api]\ntrigger_secret = "short"\n', "api.trigger_secret", "at least 16"),
        ('[api]\nrate_limit = "lots"\n', "api.rate_limit", "invalid rate"),
        ('[api]\njob_kinds = ["http", "ftp"]\n', "api.job_kinds[1]", "unknown job kind"),
        ('[api]\ncors_origins = ["example.com"]\n', "api.cors_origins", "expected an origin"),
        ('[api]\nhost = ""\n', "api.host", "expected a host"),
        ("api = 3\n", "api", "expected a table"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "", {"TICKWORK_TRIGGER_SECRET": "tiny-secret"})
    assert "tiny-secret" not in str(caught.value)
    assert caught.value.field == "TICKWORK_TRIGGER_SECRET"


def test_bad_port_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TICKWORK_API_PORT: expected an integer"):
        load(tmp_path, "", {"TICKWORK_API_PORT": "eighty"})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_metrics_public_is_a_boolean(tmp_path: Path) -> None:
    assert ApiSettings().metrics_public is False
    assert load(tmp_path, "[api]\nmetrics_public = true\n").metrics_public is True
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[api]\nmetrics_public = "yes"\n')
    assert info.value.field == "api.metrics_public" and "true or false" in str(info.value)
