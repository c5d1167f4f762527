"""Tests for loading tickwork.toml, TICKWORK_* variables and overrides (tickwork.config)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import pytest

from tickwork.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATABASE_URL,
    ENV_VARS,
    Config,
    Settings,
    load_config,
    parse_config_text,
    settings_from_env,
    substitute_env,
)
from tickwork.domain.tasks import (
    HttpTarget,
    PythonTarget,
    RetryPolicy,
    ShellTarget,
    TaskDefinition,
    TaskSource,
)
from tickwork.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "tickwork.toml"


def parse_jobs(text: str, environ: dict[str, str] | None = None) -> tuple[TaskDefinition, ...]:
    return parse_config_text(text, environ=environ or {})[1]


def parse_job(body: str, environ: dict[str, str] | None = None) -> TaskDefinition:
    (job,) = parse_jobs("[[jobs]]\n" + body, environ)
    return job


def config_error(text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, environ=environ or {})
    assert "\n" not in str(info.value)
    return info.value


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tickwork.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- a full valid file -----------------------------------------------------------------------

FULL = """
[tickwork]
database_url = "postgresql://tick@${DB_HOST}/tick"
batch_size = 10
max_concurrent_jobs = 5
poll_interval_seconds = "250ms"
lease = "2m"
shutdown_timeout = 0
output_limit_bytes = 2048
misfire_grace = "30s"
log_level = "debug"

[[jobs]]
name = "cleanup"
description = "Removes old rows"
task = "myapp.jobs:cleanup"
args = [1, "two"]
kwargs = { days = 30, label = "x" }
schedule = "*/5 * * * *"
timezone = "Europe/Berlin"
timeout = "30s"
max_retries = 3
enabled = false
priority = 5
tags = ["maintenance", "db"]
backoff = { base = "1s", factor = 3, cap = "1m", jitter = false }

[[jobs]]
name = "disk"
command = "df -h"
cwd = "/tmp"
env = { LANG = "C" }
schedule = "*/10 * * * * *"
timeout = 5

[[jobs]]
name = "ping"
[jobs.http]
method = "post"
url = "https://example.com/hook"
headers = { Authorization = "Bearer ${TOKEN}" }
json = { text = "hi", n = [1, 2] }
expected_status = [200, 201]
"""


def test_full_example_with_all_three_kinds() -> None:
    settings, jobs = parse_config_text(FULL, environ={"DB_HOST": "db", "TOKEN": "s3cret"})
    assert settings == {
        "database_url": "postgresql://tick@db/tick",
        "batch_size": 10,
        "max_concurrent_jobs": 5,
        "poll_interval_seconds": 0.25,
        "lease_seconds": 120.0,
        "shutdown_timeout_seconds": 0.0,
        "output_limit_bytes": 2048,
        "misfire_grace_seconds": 30.0,
        "log_level": "DEBUG",
    }
    cleanup, disk, ping = jobs
    assert cleanup == TaskDefinition(
        name="cleanup",
        target=PythonTarget("myapp.jobs:cleanup"),
        schedule="*/5 * * * *",
        timezone="Europe/Berlin",
        timeout_seconds=30.0,
        retry=RetryPolicy(
            max_retries=3, base_seconds=1.0, factor=3.0, cap_seconds=60.0, jitter=False
        ),
        enabled=False,
        description="Removes old rows",
        priority=5,
        tags=("maintenance", "db"),
        args=(1, "two"),
        kwargs={"days": 30, "label": "x"},
        source=TaskSource.CONFIG,
    )
    assert disk.target == ShellTarget(command="df -h", cwd="/tmp", env={"LANG": "C"})
    assert disk.timeout_seconds == 5.0
    assert disk.retry == RetryPolicy()
    assert disk.enabled is True
    assert ping.schedule is None
    assert ping.timezone == "UTC"
    assert ping.target == HttpTarget(
        url="https://example.com/hook",
        method="POST",
        headers={"Authorization": "Bearer s3cret"},
        json={"text": "hi", "n": [1, 2]},
        expected_statuses=(200, 201),
    )
    assert all(job.source is TaskSource.CONFIG for job in jobs)


def test_empty_file_has_no_settings_and_no_jobs() -> None:
    assert parse_config_text("", environ={}) == ({}, ())


def test_http_defaults_and_single_expected_status() -> None:
    job = parse_job('name = "h"\nhttp = { url = "http://localhost/x", expected_status = 204 }\n')
    assert job.target == HttpTarget(
        url="http://localhost/x", method="GET", expected_statuses=(204,)
    )
    body = parse_job('name = "h"\nhttp = { url = "http://h/", method = "put", body = "raw" }\n')
    assert isinstance(body.target, HttpTarget)
    assert (body.target.method, body.target.body, body.target.json) == ("PUT", "raw", None)


# --- the example config ----------------------------------------------------------------------


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.path == EXAMPLE
    jobs = {job.name: job for job in config.tasks}
    kinds = {job.kind.value for job in config.tasks}
    assert kinds == {"python", "shell", "http"}
    assert jobs["heartbeat"].schedule == "*/10 * * * * *"
    assert jobs["heartbeat"].kwargs == {"greeting": "hello"}
    health = jobs["health-check"]
    assert isinstance(health.target, HttpTarget)
    assert health.target.url == "http://127.0.0.1:8080/health"
    assert health.schedule == "* * * * *" and health.enabled
    assert jobs["send-report"].schedule is None
    assert any(isinstance(job.target, ShellTarget) and job.schedule for job in config.tasks)

    greeted = load_config(EXAMPLE, environ={"TICKWORK_EXAMPLE_GREETING": "moin"})
    assert {job.name: job for job in greeted.tasks}["heartbeat"].kwargs == {"greeting": "moin"}


def test_example_tasks_are_importable_from_repo_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    monkeypatch.delitem(sys.modules, "examples", raising=False)
    monkeypatch.delitem(sys.modules, "examples.tasks", raising=False)
    config = load_config(EXAMPLE, environ={})
    for job in config.tasks:
        if isinstance(job.target, PythonTarget):
            module_name, function_name = job.target.path.split(":")
            function = getattr(importlib.import_module(module_name), function_name)
            result = function(*job.args, **job.kwargs)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            assert isinstance(result, dict)
    assert "hello from" in capsys.readouterr().out


# --- settings precedence ---------------------------------------------------------------------


def test_defaults_without_file() -> None:
    config = load_config(None, environ={})
    assert config == Config(settings=Settings(), tasks=(), path=None)
    assert config.settings.database_url == DEFAULT_DATABASE_URL


def test_precedence_override_env_file_default(tmp_path: Path) -> None:
    path = write(tmp_path, "[tickwork]\nbatch_size = 7\nmax_concurrent_jobs = 3\nlease = 10\n")
    environ = {"TICKWORK_MAX_CONCURRENT_JOBS": "4", "TICKWORK_LEASE": "20s"}
    settings = load_config(path, environ=environ, overrides={"lease_seconds": 30}).settings
    assert settings.batch_size == 7  # file beats default
    assert settings.max_concurrent_jobs == 4  # env beats file
    assert settings.lease_seconds == 30.0  # override beats env
    assert settings.output_limit_bytes == Settings().output_limit_bytes  # default
    none_ignored = load_config(path, environ=environ, overrides={"max_concurrent_jobs": None})
    assert none_ignored.settings.max_concurrent_jobs == 4


def test_settings_from_env_names_and_parsing() -> None:
    environ = {
        "TICKWORK_DATABASE_URL": "sqlite:///x.db",
        "TICKWORK_BATCH_SIZE": " 5 ",
        "TICKWORK_MAX_CONCURRENT_JOBS": "2",
        "TICKWORK_POLL_INTERVAL": "1.5",
        "TICKWORK_LEASE": "1m",
        "TICKWORK_SHUTDOWN_TIMEOUT": "0",
        "TICKWORK_OUTPUT_LIMIT": "4096",
        "TICKWORK_MISFIRE_GRACE": "2m",
        "TICKWORK_LOG_LEVEL": "warning",
        "TICKWORK_LOG_FORMAT": "JSON",
        "TICKWORK_MAX_INTERRUPTIONS": "0",
        "TICKWORK_UNRELATED": "ignored",
    }
    assert set(ENV_VARS.values()) <= set(environ)
    assert Settings().replace(**settings_from_env(environ)) == Settings(
        database_url="sqlite:///x.db",
        batch_size=5,
        max_concurrent_jobs=2,
        poll_interval_seconds=1.5,
        lease_seconds=60.0,
        shutdown_timeout_seconds=0.0,
        output_limit_bytes=4096,
        misfire_grace_seconds=120.0,
        log_level="WARNING",
        log_format="json",
        max_interruptions=0,
    )
    assert settings_from_env({"TICKWORK_BATCH_SIZE": ""}) == {}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TICKWORK_BATCH_SIZE": "many"}, ["TICKWORK_BATCH_SIZE", "'many'"]),
        ({"TICKWORK_BATCH_SIZE": "0"}, ["TICKWORK_BATCH_SIZE", ">= 1", "0"]),
        ({"TICKWORK_POLL_INTERVAL": "0s"}, ["TICKWORK_POLL_INTERVAL", "> 0", "'0s'"]),
        ({"TICKWORK_LEASE": "soon"}, ["TICKWORK_LEASE", "'soon'"]),
        ({"TICKWORK_OUTPUT_LIMIT": "100"}, ["TICKWORK_OUTPUT_LIMIT", ">= 1024", "100"]),
        ({"TICKWORK_LOG_LEVEL": "loud"}, ["TICKWORK_LOG_LEVEL", "'loud'"]),
        ({"TICKWORK_MAX_INTERRUPTIONS": "-1"}, ["TICKWORK_MAX_INTERRUPTIONS", ">= 0", "-1"]),
        ({"TICKWORK_MISFIRE_GRACE": "-1"}, ["TICKWORK_MISFIRE_GRACE", "-1"]),
    ],
)
def test_bad_env_settings(environ: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ=environ)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("batch_size = 0", ["tickwork.batch_size", ">= 1", "0"]),
        ('batch_size = "10"', ["tickwork.batch_size", "'10'", "integer"]),
        ("max_concurrent_jobs = 0", ["tickwork.max_concurrent_jobs", "0"]),
        ("poll_interval_seconds = 0", ["tickwork.poll_interval_seconds", "> 0"]),
        ('lease = "forever"', ["tickwork.lease", "'forever'"]),
        ("shutdown_timeout_seconds = -1", ["tickwork.shutdown_timeout_seconds", "-1"]),
        ("output_limit_bytes = 10", ["tickwork.output_limit_bytes", ">= 1024", "10"]),
        ("misfire_grace = true", ["tickwork.misfire_grace", "True"]),
        ('log_level = "TRACE"', ["tickwork.log_level", "'TRACE'"]),
        ('database_url = ""', ["tickwork.database_url", "''"]),
        ("batch_sise = 5", ["tickwork.batch_sise", "unknown setting 'batch_sise'", "'batch_size'"]),
        ('database_url = "${NOPE}"', ["tickwork.database_url", "'NOPE' is not set"]),
        ("lease = 5\nlease_seconds = 6", ["lease_seconds", "twice"]),
    ],
)
def test_bad_file_settings(table: str, expected: list[str]) -> None:
    message = str(config_error(f"[tickwork]\n{table}\n"))
    for part in expected:
        assert part in message


def test_settings_validate_and_replace() -> None:
    assert Settings().batch_size == DEFAULT_BATCH_SIZE
    assert Settings(poll_interval_seconds=2).poll_interval_seconds == 2.0
    changed = Settings().replace(poll_interval="2s", log_level="error", batch_size=3)
    assert (changed.poll_interval_seconds, changed.log_level, changed.batch_size) == (
        2.0,
        "ERROR",
        3,
    )
    with pytest.raises(ConfigError, match="batch_size: must be >= 1, got 0"):
        Settings(batch_size=0)
    with pytest.raises(ConfigError, match="lease_seconds: must be > 0"):
        Settings().replace(lease_seconds=0)
    with pytest.raises(ConfigError, match=r"unknown setting 'batchsize'.*'batch_size'"):
        Settings().replace(batchsize=1)
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(None, environ={}, overrides={"nope": 1})


# --- files -----------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml") as info:
        load_config(missing, environ={})
    assert "does not exist" in str(info.value)
    with pytest.raises(ConfigError, match="not a file"):
        load_config(tmp_path, environ={})


def test_file_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[jobs]]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml.*UTF-8"):
        load_config(path, environ={})


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[tickwork]\nbatch_size = 2\n")
    assert load_config(path, environ={}).settings.batch_size == 2


def test_load_config_does_not_write(tmp_path: Path) -> None:
    path = write(tmp_path, '[[jobs]]\nname = "a"\ncommand = "true"\n')
    before = sorted(tmp_path.iterdir())
    config = load_config(path, environ={})
    assert config.path == path and [job.name for job in config.tasks] == ["a"]
    assert sorted(tmp_path.iterdir()) == before


def test_malformed_toml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[tickwork]\nbatch_size = 1\nname = = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message and "column" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('job = "x"\n', ["unknown top-level key 'job'", "'jobs'"]),
        ("[settings]\nx = 1\n", ["unknown top-level key 'settings'"]),
        ('name = "x"\n', ["'name'", "above the first [[jobs]]"]),
        ("tickwork = 3\n", ["tickwork", "expected a table", "3"]),
        ('[jobs]\nname = "x"\n', ["jobs", "[[jobs]]"]),
        ("jobs = [1]\n", ["jobs[0]", "expected a table", "1"]),
    ],
)
def test_bad_top_level(text: str, expected: list[str]) -> None:
    message = str(config_error(text))
    for part in expected:
        assert part in message


# --- job rules -------------------------------------------------------------------------------

PY = 'task = "pkg.mod:fn"\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # names
        (PY, ["jobs[0]", "name", "missing"]),
        ("name = 3\n" + PY, ["jobs[0]", "name", "3"]),
        ('name = "bad name!"\n' + PY, ["jobs[0]", "name", "'bad name!'"]),
        # unknown keys, with suggestions
        ('name = "j"\nshedule = "* * * * *"\n' + PY, ["'j'", "shedule", "'schedule'"]),
        ('name = "j"\nbackoff = { bse = "1s" }\n' + PY, ["'j'", "backoff.bse", "'base'"]),
        (
            'name = "j"\nhttp = { url = "http://x/", methd = "GET" }\n',
            ["'j'", "http.methd", "'method'"],
        ),
        ('name = "j"\nzzz = 1\n' + PY, ["'j'", "zzz", "unknown key 'zzz'"]),
        # targets
        ('name = "j"\n', ["'j'", "task", "missing target"]),
        ('name = "j"\ncommand = "ls"\n' + PY, ["'j'", "command", "'task'"]),
        (
            'name = "j"\ncommand = "ls"\nhttp = { url = "http://x/" }\n',
            ["'j'", "http", "'command'"],
        ),
        ('name = "j"\ncommand = "ls"\nargs = [1]\n', ["'j'", "args", "'task'"]),
        ('name = "j"\nkwargs = { a = 1 }\nhttp = { url = "http://x/" }\n', ["'j'", "kwargs"]),
        ('name = "j"\ncwd = "/"\n' + PY, ["'j'", "cwd", "'command'"]),
        ('name = "j"\nenv = { A = "b" }\n' + PY, ["'j'", "env", "'command'"]),
        ('name = "j"\ntask = "not a path"\n', ["'j'", "task", "'not a path'"]),
        ('name = "j"\ntask = 3\n', ["'j'", "task", "3"]),
        ('name = "j"\ncommand = "  "\n', ["'j'", "command", "'  '"]),
        ('name = "j"\ncommand = "ls"\nenv = { A = 1 }\n', ["'j'", "env.A", "1"]),
        ('name = "j"\nhttp = "http://x/"\n', ["'j'", "http", "expected a table"]),
        # wrong types
        ('name = "j"\nmax_retries = "3"\n' + PY, ["'j'", "max_retries", "'3'", "integer"]),
        ('name = "j"\nenabled = "yes"\n' + PY, ["'j'", "enabled", "'yes'"]),
        ('name = "j"\npriority = 1.5\n' + PY, ["'j'", "priority", "1.5"]),
        ('name = "j"\ntags = "a"\n' + PY, ["'j'", "tags", "'a'"]),
        ('name = "j"\ntags = [1]\n' + PY, ["'j'", "tags", "1"]),
        ('name = "j"\ndescription = 5\n' + PY, ["'j'", "description", "5"]),
        ('name = "j"\nargs = { a = 1 }\n' + PY, ["'j'", "args", "expected an array"]),
        ('name = "j"\nkwargs = [1]\n' + PY, ["'j'", "kwargs", "expected a table"]),
        ('name = "j"\nargs = [1979-05-27]\n' + PY, ["'j'", "args[0]", "1979"]),
        ('name = "j"\nbackoff = { jitter = "no" }\n' + PY, ["'j'", "backoff.jitter", "'no'"]),
        ('name = "j"\nbackoff = { factor = 0.5 }\n' + PY, ["'j'", "backoff.factor", "0.5"]),
        ('name = "j"\nbackoff = { base = "1x" }\n' + PY, ["'j'", "backoff.base", "'1x'"]),
        ('name = "j"\nbackoff = "fast"\n' + PY, ["'j'", "backoff", "'fast'"]),
        # ranges
        ('name = "j"\nmax_retries = -1\n' + PY, ["'j'", "max_retries", "-1"]),
        ('name = "j"\ntimeout = 0\n' + PY, ["'j'", "timeout", "0"]),
        ('name = "j"\ntimeout = "0s"\n' + PY, ["'j'", "timeout", "'0s'"]),
        ('name = "j"\ntimeout = "-5s"\n' + PY, ["'j'", "timeout", "'-5s'"]),
        ('name = "j"\ntimeout = "soon"\n' + PY, ["'j'", "timeout", "'soon'"]),
        ('name = "j"\ntimeout = true\n' + PY, ["'j'", "timeout", "True"]),
        # http
        (
            'name = "j"\nhttp = { url = "http://x/", method = "FETCH" }\n',
            ["'j'", "http.method", "'FETCH'"],
        ),
        ('name = "j"\nhttp = { url = "ftp://x/" }\n', ["'j'", "http.url", "'ftp://x/'"]),
        ('name = "j"\nhttp = { url = "example.com" }\n', ["'j'", "http.url", "'example.com'"]),
        ('name = "j"\nhttp = { url = "http://" }\n', ["'j'", "http.url", "'http://'"]),
        ('name = "j"\nhttp = { method = "GET" }\n', ["'j'", "http.url", "missing"]),
        (
            'name = "j"\nhttp = { url = "http://x/", json = 1, body = "b" }\n',
            ["'j'", "http.body", "'json'"],
        ),
        ('name = "j"\nhttp = { url = "http://x/", body = 1 }\n', ["'j'", "http.body", "1"]),
        (
            'name = "j"\nhttp = { url = "http://x/", headers = { A = 1 } }\n',
            ["'j'", "http.headers.A", "1"],
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", headers = { A = "x\\ny" } }\n',
            ["'j'", "http.headers.A", "'x\\ny'"],
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", expected_status = [200, 600] }\n',
            ["'j'", "http.expected_status", "600"],
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", expected_status = ["200"] }\n',
            ["'j'", "http.expected_status", "'200'"],
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", expected_status = [] }\n',
            ["'j'", "http.expected_status", "empty"],
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", json = { when = 1979-05-27 } }\n',
            ["'j'", "http.json.when", "1979"],
        ),
        # schedules and timezones
        ('name = "j"\nschedule = "61 * * * *"\n' + PY, ["'j'", "schedule", "'61 * * * *'"]),
        ('name = "j"\nschedule = "every day"\n' + PY, ["'j'", "schedule", "'every day'"]),
        ('name = "j"\nschedule = 5\n' + PY, ["'j'", "schedule", "5"]),
        ('name = "j"\ntimezone = "Mars/Olympus"\n' + PY, ["'j'", "timezone", "'Mars/Olympus'"]),
        (
            'name = "j"\ntimezone = "Mars/Olympus"\nschedule = "* * * * *"\n' + PY,
            ["'j'", "timezone"],
        ),
    ],
)
def test_job_errors_are_one_line_naming_job_field_and_value(body: str, expected: list[str]) -> None:
    message = str(config_error("[[jobs]]\n" + body))
    assert message.startswith("job ")
    for part in expected:
        assert part in message, message


def test_error_attributes_are_set() -> None:
    error = config_error('[[jobs]]\nname = "j"\nmax_retries = -2\n' + PY)
    assert (error.job, error.field) == ("j", "max_retries")
    schedule = config_error('[[jobs]]\nname = "j"\nschedule = "bad"\n' + PY)
    assert (schedule.job, schedule.field) == ("j", "schedule")


def test_index_label_counts_jobs_from_zero() -> None:
    text = '[[jobs]]\nname = "a"\n' + PY + "[[jobs]]\n" + PY
    assert str(config_error(text)).startswith("job 'jobs[1]': name:")


def test_duplicate_names_name_the_second_job() -> None:
    text = '[[jobs]]\nname = "a"\n' + PY + '[[jobs]]\nname = "b"\n' + PY
    text += '[[jobs]]\nname = "a"\ncommand = "ls"\n'
    error = config_error(text)
    assert (error.job, error.field) == ("a", "name")
    assert "duplicate" in str(error) and "jobs[2]" in str(error) and "jobs[0]" in str(error)


def test_long_values_are_shortened() -> None:
    message = str(config_error('[[jobs]]\nname = "j"\nmax_retries = "' + "9" * 500 + '"\n' + PY))
    assert len(message) < 200 and "..." in message


def test_unknown_key_is_reported_before_missing_variable() -> None:
    message = str(config_error('[[jobs]]\nname = "j"\nshedule = "${NOPE}"\n' + PY))
    assert "unknown key 'shedule'" in message


# --- substitution ----------------------------------------------------------------------------


def test_substitute_env_basics() -> None:
    environ = {"A": "1", "EMPTY": ""}
    assert substitute_env("x${A}y", environ, field="f") == "x1y"
    assert substitute_env("${A}${A}", environ, field="f") == "11"
    assert substitute_env("$${A}", environ, field="f") == "${A}"
    assert substitute_env("$$${A}", environ, field="f") == "$${A}"
    assert substitute_env("$A $(pwd) $$ {A}", environ, field="f") == "$A $(pwd) $$ {A}"
    assert substitute_env("${B:-dflt}", environ, field="f") == "dflt"
    assert substitute_env("${EMPTY:-dflt}", environ, field="f") == "dflt"
    assert substitute_env("${EMPTY}", environ, field="f") == ""
    assert substitute_env("${A:-dflt}", environ, field="f") == "1"
    assert substitute_env("${B:-}", environ, field="f") == ""
    # Substituted values are not expanded again.
    assert substitute_env("${C}", {"C": "${A}"}, field="f") == "${A}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${MISSING}", "f: environment variable 'MISSING' is not set"),
        ("${1BAD}", "f: invalid variable reference '${1BAD}'"),
        ("${}", "f: invalid variable reference '${}'"),
        ("abc ${OPEN", "f: unclosed '${' in 'abc ${OPEN'"),
    ],
)
def test_substitute_env_errors(value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        substitute_env(value, {}, field="f")
    assert str(info.value).startswith(expected)


def test_substitution_in_every_job_string() -> None:
    environ = {"V": "v", "TZ_NAME": "Europe/Berlin", "MIN": "5", "NAME": "subst"}
    job_text = """
[[jobs]]
name = "${NAME}"
description = "d-${V}"
timezone = "${TZ_NAME}"
schedule = "*/${MIN} * * * *"
timeout = "${MIN}s"
tags = ["t-${V}"]
[jobs.http]
url = "https://${V}.example.com/"
headers = { X = "h-${V}" }
json = { a = "j-${V}", nested = [{ b = "n-${V}" }, 1, true], literal = "$${V}" }

[[jobs]]
name = "shell"
command = "echo ${V} $${HOME}"
cwd = "/tmp/${V}"
env = { K = "e-${V}" }

[[jobs]]
name = "py"
task = "pkg.${V}:fn"
args = ["a-${V}"]
kwargs = { k = "k-${V}" }
"""
    http, shell, py = parse_jobs(job_text, environ)
    assert http.name == "subst"
    assert (http.description, http.timezone, http.schedule) == (
        "d-v",
        "Europe/Berlin",
        "*/5 * * * *",
    )
    assert http.timeout_seconds == 5.0 and http.tags == ("t-v",)
    assert http.target == HttpTarget(
        url="https://v.example.com/",
        headers={"X": "h-v"},
        json={"a": "j-v", "nested": [{"b": "n-v"}, 1, True], "literal": "${V}"},
    )
    assert shell.target == ShellTarget(command="echo v ${HOME}", cwd="/tmp/v", env={"K": "e-v"})
    assert py.target == PythonTarget("pkg.v:fn")
    assert (py.args, py.kwargs) == (("a-v",), {"k": "k-v"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('name = "j"\ncommand = "echo ${NOPE}"\n', "command"),
        (
            'name = "j"\nhttp = { url = "http://x/", json = { a = ["${NOPE}"] } }\n',
            "http.json.a[0]",
        ),
        (
            'name = "j"\nhttp = { url = "http://x/", headers = { A = "${NOPE}" } }\n',
            "http.headers.A",
        ),
        ('name = "j"\nkwargs = { k = "${NOPE}" }\n' + PY, "kwargs.k"),
    ],
)
def test_missing_variable_names_job_and_field(body: str, field: str) -> None:
    error = config_error("[[jobs]]\n" + body)
    assert (error.job, error.field) == ("j", field)
    assert str(error) == f"job 'j': {field}: environment variable 'NOPE' is not set"


def test_missing_variable_in_name_uses_index() -> None:
    error = config_error('[[jobs]]\nname = "${NOPE}"\n' + PY)
    assert str(error) == "job 'jobs[0]': name: environment variable 'NOPE' is not set"


# --- which failures retry, interruptions -----------------------------------------------------
def test_retry_on_no_retry_on_and_max_interruptions_from_a_job_table() -> None:
    job = parse_job(
        'name = "j"\ntask = "m:f"\nmax_retries = 3\nretry_on = ["ConnectionError", "timeout"]\n'
        'no_retry_on = ["myapp.errors.Busy"]\nmax_interruptions = 0\n'
    )
    assert job.retry.retry_on == ("ConnectionError", "timeout")
    assert job.retry.no_retry_on == ("myapp.errors.Busy",)
    assert job.retry.max_interruptions == 0
    plain = parse_job('name = "j"\ntask = "m:f"\n')
    assert (plain.retry.retry_on, plain.retry.no_retry_on) == ((), ())
    assert plain.retry.max_interruptions is None  # the process-wide default applies


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('retry_on = "ValueError"', "retry_on: expected an array"),
        ("retry_on = [1]", "retry_on: expected names like 'ValueError', got 1 (integer)"),
        ('no_retry_on = ["not a name"]', "no_retry_on: invalid entry 'not a name'"),
        ("max_interruptions = -1", "max_interruptions: must be >= 0, got -1"),
        ('max_interruptions = "3"', "max_interruptions: expected an integer"),
    ],
)
def test_bad_retry_keys_name_the_job_and_field(line: str, expected: str) -> None:
    error = config_error(f'[[jobs]]\nname = "j"\ntask = "m:f"\n{line}\n')
    assert str(error).startswith("job 'j': ") and expected in str(error), str(error)


def test_max_interruptions_setting() -> None:
    settings, _ = parse_config_text("[tickwork]\nmax_interruptions = 5\n", environ={})
    assert Settings().replace(**settings).max_interruptions == 5
    assert Settings().max_interruptions == 3
    assert "max_interruptions: must be >= 0" in str(
        config_error("[tickwork]\nmax_interruptions = -2\n")
    )


def test_log_format_from_the_file_the_environment_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "tickwork.toml"
    path.write_text('[tickwork]\nlog_format = "JSON"\n')
    assert Settings().log_format == "text"
    assert load_config(path, environ={}).settings.log_format == "json"
    env = {"TICKWORK_LOG_FORMAT": " text "}
    assert load_config(path, environ=env).settings.log_format == "text"
    assert Settings().replace(log_format="json").log_format == "json"
    for source, field in (
        (lambda: load_config(None, environ={"TICKWORK_LOG_FORMAT": "xml"}), "TICKWORK_LOG_FORMAT"),
        (lambda: Settings().replace(log_format=3), "log_format"),
    ):
        with pytest.raises(ConfigError) as info:
            source()
        assert info.value.field == field and "text, json" in str(info.value)
