"""``[[jobs]]`` tables given as data (the API): ``parse_job_table`` checks them like
tickwork.toml, and ``definition_table`` is its inverse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwork.config import parse_config_text
from tickwork.config.jobs import definition_table, parse_job_table
from tickwork.domain.limits import OverlapPolicy, RateLimit
from tickwork.domain.tasks import HttpTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError

OFFICE = {"timezone": "Europe/Berlin", "days": ["mon", "fri"], "hours": "08:00-18:00"}
CALENDARS = {"office": {**OFFICE, "days": ["mon", "fri"]}}

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True)
SECONDS = st.floats(0.001, 86400.0, allow_nan=False, allow_infinity=False)
DURATIONS = st.one_of(SECONDS, st.integers(1, 86400), st.sampled_from(["30s", "1h30m", "250ms"]))
WORDS = st.text(max_size=12)  # no surrogates by default: JSON-able
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3),
    max_leaves=6,
)
HEADER_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,12}", fullmatch=True)
HEADER_VALUES = st.text(
    st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\r\n"), max_size=20
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


PYTHON = st.builds(
    lambda path, rest: {"task": path, **rest},
    st.sampled_from(["pkg.mod:fn", "app.jobs:nightly_report"]),
    optional(
        args=st.lists(JSON_VALUES, max_size=3),
        kwargs=st.dictionaries(WORDS, JSON_VALUES, max_size=3),
        isolated=st.booleans(),
    ),
)
SHELL = st.builds(
    lambda command, rest: {"command": command, **rest},
    WORDS.filter(lambda text: bool(text.strip())),
    optional(cwd=WORDS, env=st.dictionaries(WORDS, WORDS, max_size=3)),
)


def _http(url: str, rest: dict[str, Any]) -> dict[str, Any]:
    return {"http": {"url": url, **rest}}


HTTP = st.builds(
    _http,
    st.from_regex(r"https?://example\.com/[a-z0-9/]{0,10}", fullmatch=True),
    optional(
        method=st.sampled_from(["GET", "post", "Put", "DELETE"]),
        headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
        json=JSON_VALUES.filter(lambda value: value is not None),
        expected_status=st.one_of(
            st.integers(100, 599), st.lists(st.integers(100, 599), min_size=1, max_size=3)
        ),
    ),
)
RATES = st.builds(
    lambda n, period: f"{n} per {period}",
    st.integers(1, 1000),
    st.sampled_from(["1s", "1m", "0.5s", "90s", "1h"]),
)
POLICIES = optional(
    overlap=st.sampled_from(["skip", "queue", "allow", "replace", "Queue"]),
    misfire=st.sampled_from(["skip", "run_once", "catch_up"]),
    catch_up_window=DURATIONS,
    catch_up_max=st.integers(1, 50),
    rate_limit=RATES,
    key_rate_limit=RATES,
    key_limit=st.integers(1, 20),
    cooldown=DURATIONS,
    guard=st.just("pkg.guards:check"),
    calendar=st.one_of(
        st.just("office"),
        st.fixed_dictionaries(
            {"days": st.sampled_from([["mon"], ["sat", "sun"], [0, 2, 4]])},
            optional={"hours": st.just("09:00-17:30"), "dates": st.just(["2026-12-24"])},
        ),
    ),
)
COMMON = optional(
    description=WORDS,
    schedule=st.sampled_from(["*/5 * * * *", "0 9 * * mon-fri", "@hourly", "every 30s"]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    timeout=DURATIONS,
    max_retries=st.integers(0, 10),
    enabled=st.booleans(),
    priority=st.integers(-100, 100),
    tags=st.lists(WORDS.filter(lambda text: bool(text.strip())), max_size=3),
    backoff=optional(base=DURATIONS, factor=st.floats(1, 10), cap=DURATIONS, jitter=st.booleans()),
    retry_on=st.lists(st.sampled_from(["ValueError", "network", "myapp.errors.Busy"]), max_size=2),
    no_retry_on=st.lists(st.sampled_from(["KeyError", "timeout", "ExitCode"]), max_size=2),
    max_interruptions=st.integers(0, 10),
)


@st.composite
def job_tables(draw: st.DrawFn) -> dict[str, Any]:
    target = draw(st.one_of(PYTHON, SHELL, HTTP))
    policies = draw(POLICIES)
    if "task" not in target:
        policies.pop("guard", None)  # allowed with any target, kept to Python for variety
    return {"name": draw(NAMES), **draw(COMMON), **target, **policies}


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(table=job_tables())
def test_definition_table_is_the_inverse_of_parse_job_table(table: dict[str, Any]) -> None:
    defn = parse_job_table(table, CALENDARS)
    again = definition_table(defn)
    assert parse_job_table(again) == defn  # inline calendars: no names needed any more
    # Over the API the table travels as JSON.
    assert parse_job_table(json.loads(json.dumps(again))) == defn
    assert definition_table(parse_job_table(again)) == again


def test_table_of_a_full_definition() -> None:
    defn = parse_job_table(
        {
            "name": "report",
            "description": "daily",
            "schedule": "0 6 * * *",
            "timezone": "Europe/Berlin",
            "timeout": "5m",
            "max_retries": 2,
            "backoff": {"base": "2s", "jitter": False},
            "priority": 3,
            "tags": ["ops"],
            "http": {"url": "https://example.com/r", "method": "post", "json": {"a": 1}},
            "overlap": "queue",
            "rate_limit": "10 per 1m",
            "calendar": "office",
        },
        CALENDARS,
    )
    assert defn.source is TaskSource.API
    assert defn.policies.overlap is OverlapPolicy.QUEUE
    assert defn.policies.rate_limit == RateLimit(10, 60.0)
    assert definition_table(defn) == {
        "name": "report",
        "description": "daily",
        "schedule": "0 6 * * *",
        "timezone": "Europe/Berlin",
        "timeout": 300.0,
        "priority": 3,
        "tags": ["ops"],
        "max_retries": 2,
        "backoff": {"base": 2.0, "jitter": False},
        "http": {"method": "POST", "url": "https://example.com/r", "json": {"a": 1}},
        "overlap": "queue",
        "rate_limit": "10 per 60s",
        "calendar": {"timezone": "Europe/Berlin", "days": ["mon", "fri"], "hours": "08:00-18:00"},
    }
    # Defaults are left out, so a minimal table stays minimal.
    minimal = {"name": "m", "task": "pkg.mod:fn"}
    assert definition_table(parse_job_table(minimal)) == minimal


def test_source_is_the_one_given() -> None:
    table = {"name": "m", "command": "true"}
    assert parse_job_table(table).source is TaskSource.API
    assert parse_job_table(table, source=TaskSource.CONFIG).source is TaskSource.CONFIG


def file_error(body: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config_text("[[jobs]]\n" + body, environ={})
    return str(info.value)


def table_error(table: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_job_table(table)
    return info.value


@pytest.mark.parametrize(
    ("table", "body", "field"),
    [
        (
            {"name": "x", "task": "m:f", "schedule": "61 * * * *"},
            'name = "x"\ntask = "m:f"\nschedule = "61 * * * *"',
            "schedule",
        ),
        (
            {"name": "x", "task": "m:f", "timezone": "Mars/Olympus"},
            'name = "x"\ntask = "m:f"\ntimezone = "Mars/Olympus"',
            "timezone",
        ),
        (
            {"name": "x", "task": "m:f", "schedul": "@hourly"},
            'name = "x"\ntask = "m:f"\nschedul = "@hourly"',
            "schedul",
        ),
        (
            {"name": "x", "http": {"url": "ftp://h/"}},
            'name = "x"\nhttp = { url = "ftp://h/" }',
            "http.url",
        ),
        (
            {"name": "x", "task": "m:f", "max_retries": -1},
            'name = "x"\ntask = "m:f"\nmax_retries = -1',
            "max_retries",
        ),
        (
            {"name": "x", "task": "m:f", "rate_limit": "often"},
            'name = "x"\ntask = "m:f"\nrate_limit = "often"',
            "rate_limit",
        ),
        (
            {"name": "x", "task": "m:f", "calendar": "nope"},
            'name = "x"\ntask = "m:f"\ncalendar = "nope"',
            "calendar",
        ),
        ({"name": "x"}, 'name = "x"', "task"),
        ({"name": "bad name", "task": "m:f"}, 'name = "bad name"\ntask = "m:f"', "name"),
    ],
)
def test_errors_name_the_field_like_the_file(table: dict[str, Any], body: str, field: str) -> None:
    error = table_error(table)
    assert error.field == field
    assert error.reason in file_error(body)
    if field != "name":
        assert error.job == "x"
        assert str(error) == file_error(body)


def test_errors_of_shapes_the_file_cannot_have() -> None:
    assert "expected a job table" in str(table_error(["name", "x"]))
    missing = table_error({"task": "m:f"})
    assert (missing.field, missing.reason) == ("name", "missing required key 'name'")
    assert table_error({"name": 3, "task": "m:f"}).field == "name"
    nan = table_error({"name": "x", "http": {"url": "http://h/", "json": {"v": float("nan")}}})
    assert (nan.job, nan.field) == ("x", "http.json.v")


def test_no_variable_substitution() -> None:
    defn = parse_job_table(
        {
            "name": "x",
            "command": "echo ${HOME} $${X}",
            "env": {"TOKEN": "${SECRET}"},
        }
    )
    assert isinstance(defn.target, ShellTarget)
    assert defn.target.command == "echo ${HOME} $${X}"
    assert defn.target.env == {"TOKEN": "${SECRET}"}
    http = parse_job_table({"name": "h", "http": {"url": "https://e.com/${PATH}"}})
    assert isinstance(http.target, HttpTarget) and http.target.url.endswith("${PATH}")


def test_definition_from_code_has_a_table_too() -> None:
    defn = TaskDefinition(name="c", target=ShellTarget("true", cwd="/tmp"), source=TaskSource.CODE)
    table = definition_table(defn)
    assert table == {"name": "c", "command": "true", "cwd": "/tmp"}
    assert parse_job_table(table, source=TaskSource.CODE) == defn
