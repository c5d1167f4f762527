"""Tests for the policy settings and job keys of tickwork.toml, and for ``@app.task`` policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tickwork.app import Tickwork
from tickwork.config import (
    ALL_ENV_VARS,
    LIMIT_ENV_VARS,
    Settings,
    load_config,
    parse_config_text,
    settings_from_env,
)
from tickwork.domain.limits import MisfirePolicy, OverlapPolicy, Policies, RateLimit
from tickwork.domain.tasks import TaskDefinition
from tickwork.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "tickwork.toml"
PY = 'task = "pkg.mod:fn"\n'
BUSINESS = {
    "timezone": "Europe/Berlin",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "hours": "09:00-17:00",
    "holidays": "DE",
}


def parse_job(body: str, prefix: str = "", environ: dict[str, str] | None = None) -> TaskDefinition:
    (job,) = parse_config_text(prefix + "[[jobs]]\n" + body, environ=environ or {})[1]
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


# --- [tickwork] and TICKWORK_* ---------------------------------------------------------------


def test_limit_settings_default_to_none() -> None:
    settings = Settings()
    assert (settings.key_limit, settings.rate_limit) == (None, None)
    assert load_config(None, environ={}).settings == settings


def test_limit_settings_from_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[tickwork]\nkey_limit = 3\nrate_limit = "1000 per 1s"\n')
    settings = load_config(path, environ={}).settings
    assert settings.key_limit == 3
    assert settings.rate_limit == RateLimit(1000, 1.0)


def test_limit_settings_from_env_beat_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[tickwork]\nkey_limit = 3\nrate_limit = "5/1s"\n')
    environ = {"TICKWORK_KEY_LIMIT": " 7 ", "TICKWORK_RATE_LIMIT": "10/1m"}
    settings = load_config(path, environ=environ).settings
    assert (settings.key_limit, settings.rate_limit) == (7, RateLimit(10, 60.0))
    assert settings_from_env({"TICKWORK_KEY_LIMIT": "", "TICKWORK_RATE_LIMIT": " "}) == {}
    assert set(LIMIT_ENV_VARS.values()) == {"TICKWORK_KEY_LIMIT", "TICKWORK_RATE_LIMIT"}
    assert set(LIMIT_ENV_VARS.items()) <= set(ALL_ENV_VARS.items())


def test_limit_settings_replace() -> None:
    settings = Settings().replace(key_limit=2, rate_limit="3 per 1h")
    assert (settings.key_limit, settings.rate_limit) == (2, RateLimit(3, 3600.0))
    assert settings.replace(rate_limit=RateLimit(1, 1.0)).rate_limit == RateLimit(1, 1.0)
    cleared = settings.replace(key_limit=None, rate_limit=None)
    assert (cleared.key_limit, cleared.rate_limit) == (None, None)
    with pytest.raises(ConfigError, match="key_limit: must be >= 1, got 0"):
        Settings(key_limit=0)
    with pytest.raises(ConfigError, match="rate_limit: expected a rate"):
        Settings(rate_limit="5/1s")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TICKWORK_KEY_LIMIT": "0"}, ["TICKWORK_KEY_LIMIT", ">= 1", "0"]),
        ({"TICKWORK_KEY_LIMIT": "-2"}, ["TICKWORK_KEY_LIMIT", ">= 1", "-2"]),
        ({"TICKWORK_KEY_LIMIT": "two"}, ["TICKWORK_KEY_LIMIT", "integer", "'two'"]),
        ({"TICKWORK_RATE_LIMIT": "10 per 0s"}, ["TICKWORK_RATE_LIMIT", "'10 per 0s'", "> 0"]),
        ({"TICKWORK_RATE_LIMIT": "lots"}, ["TICKWORK_RATE_LIMIT", "'lots'"]),
        ({"TICKWORK_RATE_LIMIT": "0/1s"}, ["TICKWORK_RATE_LIMIT", "'0/1s'", ">= 1"]),
    ],
)
def test_bad_limit_env(environ: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ=environ)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("key_limit = 0", ["tickwork.key_limit", ">= 1", "0"]),
        ("key_limit = -1", ["tickwork.key_limit", "-1"]),
        ('key_limit = "2"', ["tickwork.key_limit", "integer", "'2'"]),
        ("key_limit = 1.5", ["tickwork.key_limit", "1.5"]),
        ('rate_limit = "10 per 0s"', ["tickwork.rate_limit", "'10 per 0s'", "> 0"]),
        ('rate_limit = "fast"', ["tickwork.rate_limit", "'fast'"]),
        ("rate_limit = 10", ["tickwork.rate_limit", "10", "rate"]),
        ("key_limt = 1", ["unknown setting 'key_limt'", "'key_limit'"]),
    ],
)
def test_bad_limit_settings_in_file(table: str, expected: list[str]) -> None:
    message = str(config_error(f"[tickwork]\n{table}\n"))
    for part in expected:
        assert part in message, message


# --- job policies ----------------------------------------------------------------------------


def test_job_without_policy_keys_has_default_policies() -> None:
    assert parse_job('name = "j"\n' + PY).policies == Policies()


def test_all_policy_keys() -> None:
    job = parse_job(
        'name = "j"\n'
        + PY
        + """overlap = "Queue"
misfire = "catch_up"
catch_up_window = "2h"
catch_up_max = 3
rate_limit = "10 per 1m"
key_rate_limit = "1/1s"
key_limit = 2
cooldown = "30s"
guard = "pkg.guards:business_only"
isolated = true
"""
    )
    assert job.policies == Policies(
        overlap=OverlapPolicy.QUEUE,
        misfire=MisfirePolicy.CATCH_UP,
        catch_up_window_seconds=7200.0,
        catch_up_max=3,
        rate_limit=RateLimit(10, 60.0),
        key_rate_limit=RateLimit(1, 1.0),
        key_limit=2,
        cooldown_seconds=30.0,
        guard="pkg.guards:business_only",
        isolated=True,
    )


def test_each_overlap_and_misfire_value() -> None:
    for overlap in OverlapPolicy:
        job = parse_job(f'name = "j"\noverlap = "{overlap.value}"\n' + PY)
        assert job.policies.overlap is overlap
    for misfire in MisfirePolicy:
        job = parse_job(f'name = "j"\nmisfire = "{misfire.value}"\n' + PY)
        assert job.policies.misfire is misfire


def test_catch_up_keys_are_allowed_without_catch_up() -> None:
    job = parse_job('name = "j"\ncatch_up_window = 60\ncatch_up_max = 1\n' + PY)
    assert job.policies.misfire is MisfirePolicy.SKIP
    assert (job.policies.catch_up_window_seconds, job.policies.catch_up_max) == (60.0, 1)


def test_policies_on_shell_and_http_jobs_and_zero_cooldown() -> None:
    shell = parse_job('name = "s"\ncommand = "ls"\noverlap = "allow"\ncooldown = 0\n')
    assert shell.policies == Policies(overlap=OverlapPolicy.ALLOW)
    http = parse_job('name = "h"\nrate_limit = "5/1s"\nhttp = { url = "http://x/" }\n')
    assert http.policies.rate_limit == RateLimit(5, 1.0)
    assert parse_job('name = "p"\nisolated = false\n' + PY).policies.isolated is False


def test_policy_strings_are_substituted() -> None:
    job = parse_job(
        'name = "j"\nrate_limit = "${RATE}"\nguard = "${MOD}:check"\n' + PY,
        environ={"RATE": "7 per 1m", "MOD": "pkg.guards"},
    )
    assert job.policies.rate_limit == RateLimit(7, 60.0)
    assert job.policies.guard == "pkg.guards:check"


# --- calendars -------------------------------------------------------------------------------

CALENDARS = """
[calendars.business]
timezone = "Europe/Berlin"
days = ["Mon", "TUE", "wed", "thu", "fri"]
hours = "09:00-17:00"
holidays = "DE"

[calendars.weekend]
days = ["sat", "sun"]
hours = "10:00-12:00"
dates = ["2026-12-26", 2026-12-27]
"""


def test_named_calendars_are_normalized_and_shared(tmp_path: Path) -> None:
    text = CALENDARS + '[[jobs]]\nname = "a"\ncalendar = "business"\n' + PY
    text += '[[jobs]]\nname = "b"\ncalendar = "weekend"\ntimezone = "Asia/Tokyo"\n' + PY
    config = load_config(write(tmp_path, text), environ={})
    weekend = {
        "timezone": "UTC",  # a named calendar does not take a job's timezone
        "days": ["sat", "sun"],
        "hours": "10:00-12:00",
        "dates": ["2026-12-26", "2026-12-27"],
    }
    assert config.calendars == {"business": BUSINESS, "weekend": weekend}
    first, second = config.tasks
    assert first.policies.calendar == BUSINESS
    assert second.policies.calendar == weekend
    assert first.policies.calendar is not config.calendars["business"]


def test_inline_calendar_defaults() -> None:
    job = parse_job('name = "j"\ntimezone = "America/New_York"\ncalendar = {}\n' + PY)
    assert job.policies.calendar == {
        "timezone": "America/New_York",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": "09:00-17:00",
    }
    job = parse_job(
        'name = "j"\ncalendar = { holidays = "us", subdivision = "CA", days = ["sun"] }\n' + PY
    )
    assert job.policies.calendar == {
        "timezone": "UTC",
        "days": ["sun"],
        "hours": "09:00-17:00",
        "holidays": "US",
        "subdivision": "CA",
    }


def test_calendar_strings_are_substituted() -> None:
    text = '[calendars.c]\nholidays = "${COUNTRY}"\n[[jobs]]\nname = "j"\ncalendar = "c"\n' + PY
    (job,) = parse_config_text(text, environ={"COUNTRY": "FR"})[1]
    assert job.policies.calendar is not None
    assert job.policies.calendar["holidays"] == "FR"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[calendars.c]\nhours = "17:00-09:00"\n', ["calendars.c.hours", "'17:00-09:00'", "end"]),
        ('[calendars.c]\nholidays = "XX"\n', ["calendars.c.holidays", "'XX'"]),
        ('[calendars.c]\ndays = ["mon", "funday"]\n', ["calendars.c.days", "'funday'"]),
        ('[calendars.c]\ntimezone = "Mars/Base"\n', ["calendars.c.timezone", "'Mars/Base'"]),
        ('[calendars.c]\nhoura = "09:00-17:00"\n', ["calendars.c.houra", "'hours'"]),
        ('[calendars.c]\ndates = ["24.12.2026"]\n', ["calendars.c.dates", "'24.12.2026'"]),
        ("calendars = 1\n", ["calendars", "expected tables", "1"]),
        ("[calendars]\nc = 1\n", ["calendars.c", "expected a table", "1"]),
        ('[calendars.c]\nholidays = "${NOPE}"\n', ["calendars.c.holidays", "'NOPE' is not set"]),
    ],
)
def test_bad_named_calendars(text: str, expected: list[str]) -> None:
    message = str(config_error(text))
    for part in expected:
        assert part in message, message


# --- bad job policies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('overlap = "sometimes"\n' + PY, ["overlap", "'sometimes'", "skip, queue, allow, replace"]),
        ("overlap = 1\n" + PY, ["overlap", "1", "string"]),
        ('misfire = "later"\n' + PY, ["misfire", "'later'", "skip, run_once, catch_up"]),
        ("catch_up_window = 0\n" + PY, ["catch_up_window", "> 0", "0"]),
        ('catch_up_window = "soon"\n' + PY, ["catch_up_window", "'soon'"]),
        ("catch_up_max = 0\n" + PY, ["catch_up_max", ">= 1", "0"]),
        ('catch_up_max = "3"\n' + PY, ["catch_up_max", "'3'", "integer"]),
        ("key_limit = 0\n" + PY, ["key_limit", ">= 1", "0"]),
        ("key_limit = -3\n" + PY, ["key_limit", ">= 1", "-3"]),
        ("key_limit = true\n" + PY, ["key_limit", "True"]),
        ('rate_limit = "10 per 0s"\n' + PY, ["rate_limit", "'10 per 0s'", "> 0"]),
        ('key_rate_limit = "10 per 0s"\n' + PY, ["key_rate_limit", "'10 per 0s'", "> 0"]),
        ('rate_limit = "often"\n' + PY, ["rate_limit", "'often'", "10 per 1m"]),
        ('rate_limit = "0 per 1s"\n' + PY, ["rate_limit", "'0 per 1s'", ">= 1"]),
        ("rate_limit = 10\n" + PY, ["rate_limit", "10", "integer"]),
        ("cooldown = -1\n" + PY, ["cooldown", "-1"]),
        ('cooldown = "-5s"\n' + PY, ["cooldown", "'-5s'"]),
        ('guard = "not a path"\n' + PY, ["guard", "'not a path'", "package.module:function"]),
        ("guard = 3\n" + PY, ["guard", "3"]),
        ('isolated = "yes"\n' + PY, ["isolated", "'yes'"]),
        ('isolated = true\ncommand = "ls"\n', ["isolated", "'command'", "'task'", "True"]),
        ('isolated = false\ncommand = "ls"\n', ["isolated", "'command'"]),
        ('isolated = true\nhttp = { url = "http://x/" }\n', ["isolated", "'http'", "'task'"]),
        ('calendar = "nope"\n' + PY, ["calendar", "'nope'", "none", "[calendars.NAME]"]),
        ("calendar = 5\n" + PY, ["calendar", "5", "name or a table"]),
        (
            'calendar = { hours = "17:00-09:00" }\n' + PY,
            ["calendar.hours", "'17:00-09:00'", "end must be after the start"],
        ),
        ('calendar = { holidays = "ZZ" }\n' + PY, ["calendar.holidays", "'ZZ'"]),
        ('calendar = { holiday = "DE" }\n' + PY, ["calendar.holiday", "'holidays'"]),
        ('calendar = { days = "mon" }\n' + PY, ["calendar.days", "'mon'"]),
        (
            'calendar = { timezone = "Nowhere/Town" }\n' + PY,
            ["calendar.timezone", "'Nowhere/Town'"],
        ),
        ('overlapp = "skip"\n' + PY, ["overlapp", "'overlap'"]),
        ("key_limits = 2\n" + PY, ["key_limits", "'key_limit'"]),
    ],
)
def test_bad_policies_are_one_line_naming_job_field_and_value(
    body: str, expected: list[str]
) -> None:
    error = config_error('[[jobs]]\nname = "j"\n' + body)
    message = str(error)
    assert message.startswith("job 'j': "), message
    assert error.job == "j"
    for part in expected:
        assert part in message, message


def test_unknown_calendar_name_lists_the_known_ones() -> None:
    error = config_error(CALENDARS + '[[jobs]]\nname = "j"\ncalendar = "busines"\n' + PY)
    assert (error.job, error.field) == ("j", "calendar")
    assert str(error) == (
        "job 'j': calendar: unknown calendar 'busines' (known: business, weekend)"
    )


def test_policy_errors_set_attributes() -> None:
    error = config_error('[[jobs]]\nname = "j"\noverlap = "never"\n' + PY)
    assert (error.job, error.field) == ("j", "overlap")
    rate = config_error('[[jobs]]\nname = "j"\nrate_limit = "10 per 0s"\n' + PY)
    assert (rate.job, rate.field) == ("j", "rate_limit")
    assert str(rate).startswith("job 'j': rate_limit: invalid rate '10 per 0s'")


def test_unknown_policy_key_is_reported_before_missing_variable() -> None:
    message = str(config_error('[[jobs]]\nname = "j"\ncooldwn = "${NOPE}"\n' + PY))
    assert "unknown key 'cooldwn'" in message and "'cooldown'" in message


# --- @app.task ----------------------------------------------------------------------------------


def make_app(tmp_path: Path, config: str | None = None) -> Tickwork:
    path = None if config is None else write(tmp_path, config)
    return Tickwork(f"sqlite:///{tmp_path / 'x.db'}", config=path)


def test_decorator_policies(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.task(
        overlap="queue",
        misfire="run_once",
        catch_up_window="30m",
        catch_up_max=4,
        rate_limit="5 per 1s",
        key_rate_limit=RateLimit(1, 60.0),
        key_limit=3,
        cooldown=10,
        guard="pkg.guards:check",
        isolated=True,
        calendar={"hours": "08:00-12:00", "days": ["Sat"]},
        timezone="Europe/Paris",
    )
    def work() -> None:
        pass

    assert work.definition.policies == Policies(
        overlap=OverlapPolicy.QUEUE,
        misfire=MisfirePolicy.RUN_ONCE,
        catch_up_window_seconds=1800.0,
        catch_up_max=4,
        rate_limit=RateLimit(5, 1.0),
        key_rate_limit=RateLimit(1, 60.0),
        key_limit=3,
        cooldown_seconds=10.0,
        guard="pkg.guards:check",
        isolated=True,
        calendar={"timezone": "Europe/Paris", "days": ["sat"], "hours": "08:00-12:00"},
    )
    assert not (tmp_path / "x.db").exists()


def test_decorator_defaults_and_named_calendar(tmp_path: Path) -> None:
    app = make_app(tmp_path, CALENDARS)

    @app.task
    def plain() -> None:
        pass

    @app.task(calendar="business", overlap=OverlapPolicy.REPLACE)
    def office() -> None:
        pass

    assert plain.definition.policies == Policies()
    assert office.definition.policies == Policies(overlap=OverlapPolicy.REPLACE, calendar=BUSINESS)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"overlap": "sometimes"}, "job 'work': overlap: unknown policy 'sometimes'"),
        ({"misfire": "never"}, "job 'work': misfire: unknown policy 'never'"),
        ({"rate_limit": "10 per 0s"}, "job 'work': rate_limit: invalid rate '10 per 0s'"),
        ({"key_limit": 0}, "job 'work': key_limit: must be >= 1, got 0"),
        ({"cooldown": -1}, "job 'work': cooldown: duration must not be negative"),
        ({"guard": "nope"}, "job 'work': guard: invalid guard 'nope'"),
        ({"calendar": "missing"}, "job 'work': calendar: unknown calendar 'missing'"),
        ({"calendar": {"hours": "17:00-09:00"}}, "job 'work': calendar.hours: invalid hours"),
    ],
)
def test_decorator_policy_errors(tmp_path: Path, options: dict[str, Any], expected: str) -> None:
    app = make_app(tmp_path)

    def work() -> None:
        pass

    with pytest.raises(ConfigError) as info:
        app.task(**options)(work)
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)
    assert app.definitions == []


# --- the example config ----------------------------------------------------------------------


def test_example_config_policies() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.settings.key_limit == 2
    assert config.calendars == {"business": BUSINESS}
    jobs = {job.name: job for job in config.tasks}
    assert jobs["weekly-digest"].policies.calendar == BUSINESS
    assert jobs["send-report"].policies.calendar is None
    heartbeat = jobs["heartbeat"]
    assert heartbeat.policies.overlap is OverlapPolicy.SKIP
    assert heartbeat.schedule == "*/10 * * * * *"
    assert jobs["disk-usage"].schedule == "* * * * *"
    assert all(job.policies.calendar is None for job in config.tasks if job.name != "weekly-digest")
