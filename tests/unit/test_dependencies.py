"""Dependencies as definitions say them: ``after`` and ``requires`` in tickwork.toml, in
``@app.task`` and in the stored form; requirement windows in the job's zone; cycles and unknown
upstreams refused by name (``domain/dependencies.py``, ``service/definition_rules.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tickwork.app import Tickwork
from tickwork.config import parse_config_text
from tickwork.config.jobs import definition_table
from tickwork.domain.dependencies import After, DependencyGraph, Requirement, UpstreamOn, depth_of
from tickwork.domain.limits import Policies, policies_from_dict, policies_to_dict
from tickwork.domain.tasks import ShellTarget, TaskDefinition
from tickwork.errors import ConfigError
from tickwork.service.definition_rules import validate_definitions


def jobs(text: str) -> tuple[TaskDefinition, ...]:
    return parse_config_text(text, environ={})[1]


def job(name: str, *after: str) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=ShellTarget("true"),
        policies=Policies(after=tuple(After(a) for a in after)),
    )


TOML = """
[[jobs]]
name = "extract"
command = "true"

[[jobs]]
name = "load"
command = "true"
after = ["extract"]

[[jobs]]
name = "alarm"
command = "true"
after = [{ job = "extract", on = "failed" }, { job = "load", on = "finished" }]

[[jobs]]
name = "report"
command = "true"
schedule = "30 8 * * *"
timezone = "Europe/Berlin"
requires = [{ job = "extract", since = "08:00" }, { job = "load", since = "30m", on = "finished" }]
"""


def test_toml_keys_become_policies_and_come_back_as_a_table() -> None:
    extract, load, alarm, report = jobs(TOML)
    assert extract.policies.after == ()
    assert load.policies.after == (After("extract", UpstreamOn.SUCCESS),)
    assert alarm.policies.after == (
        After("extract", UpstreamOn.FAILED),
        After("load", UpstreamOn.FINISHED),
    )
    assert report.policies.requires == (
        Requirement("extract", "08:00"),
        Requirement("load", "30m", UpstreamOn.FINISHED),
    )
    stored = policies_to_dict(alarm.policies)
    assert stored["after"] == [
        {"job": "extract", "on": "failed"},
        {"job": "load", "on": "finished"},
    ]
    assert policies_from_dict(stored) == alarm.policies
    table = definition_table(report)
    assert table["requires"][0] == {"job": "extract", "since": "08:00", "on": "success"}
    validate_definitions(jobs(TOML), resolve=None, others=[])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ('after = [{ job = "a", on = "maybe" }]', "after", "unknown on 'maybe'"),
        ("after = 3", "after", "expected a list"),
        ('after = ["a", "a"]', "after", "named twice"),
        ('requires = [{ job = "a", since = "8 o\'clock" }]', "requires", "invalid since"),
        ('requires = [{ job = "a" }]', "requires", "{job, since[, on]}"),
        ('after = [{ job = "a", when = "x" }]', "after", "unknown key 'when'"),
    ],
)
def test_bad_dependency_keys_name_the_job_and_field(body: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        jobs(f'[[jobs]]\nname = "b"\ncommand = "true"\n{body}\n')
    assert info.value.job == "b" and info.value.field == field
    assert words in str(info.value)


def test_a_cycle_is_refused_and_named() -> None:
    with pytest.raises(ConfigError) as info:
        validate_definitions([job("a", "c"), job("b", "a"), job("c", "b"), job("d", "a")], None)
    assert "dependency cycle a → b → c → a" in str(info.value)
    assert info.value.field == "after" and info.value.job == "a"
    with pytest.raises(ConfigError, match="dependency cycle x → x"):
        validate_definitions([job("x", "x")], None)


def test_a_cycle_through_a_stored_definition_is_refused() -> None:
    with pytest.raises(ConfigError, match="dependency cycle a → b → a"):
        validate_definitions([job("a", "b")], None, others=[job("b", "a")])


def test_an_unknown_upstream_is_refused_by_name_when_every_definition_is_known() -> None:
    validate_definitions([job("b", "nope")], None)  # others unknown: not checked
    with pytest.raises(ConfigError) as info:
        validate_definitions([job("b", "nope")], None, others=[job("a")])
    assert "unknown job 'nope'" in str(info.value) and info.value.job == "b"
    needs = TaskDefinition(
        name="r",
        target=ShellTarget("true"),
        policies=Policies(requires=(Requirement("gone", "1h"),)),
    )
    with pytest.raises(ConfigError, match="unknown job 'gone'") as req:
        validate_definitions([needs], None, others=[])
    assert req.value.field == "requires"


def test_app_task_takes_after_and_requires(tmp_path: object) -> None:
    app = Tickwork(database_url="sqlite:///:memory:")

    @app.task
    def extract() -> None: ...

    @app.task(after="extract", requires=[{"job": "extract", "since": "1h"}])
    def load() -> None: ...

    @app.task(after=[{"job": "extract", "on": "failed"}])
    def alarm() -> None: ...

    defs = {d.name: d for d in app.definitions}
    assert defs["load"].policies.after == (After("extract"),)
    assert defs["load"].policies.requires == (Requirement("extract", "1h"),)
    assert defs["alarm"].policies.after == (After("extract", UpstreamOn.FAILED),)


def test_window_start_is_the_latest_clock_time_in_the_zone_or_a_duration_back() -> None:
    berlin = Requirement("extract", "08:00")
    fire = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # 08:30 in Berlin (summer time)
    assert berlin.window_start(fire, "Europe/Berlin") == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    early = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)  # 07:30 there: yesterday's 08:00
    assert berlin.window_start(early, "Europe/Berlin") == datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
    back = Requirement("extract", "30m")
    assert back.window_start(fire, "Europe/Berlin") == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert berlin.describe() == "extract succeeded since 08:00"


def test_graph_columns_follow_the_longest_path() -> None:
    graph = DependencyGraph.of({"b": [After("a")], "c": [After("a"), After("b")]})
    assert depth_of(graph) == {"a": 0, "b": 1, "c": 2}
    assert graph.cycle() is None
    assert [e.downstream for e in graph.downstream_of("a")] == ["b", "c"]
