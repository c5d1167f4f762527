"""Filtering and sorting lists of job definitions (definitions.select_tasks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.jobs import RunStatus
from tickwork.domain.tasks import HttpTarget, ShellTarget, Task, TaskDefinition
from tickwork.errors import ConfigError
from tickwork.service.definition_rules import NEVER_RAN, TaskFilter, select_tasks

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task(name: str, *, minutes: int | None = None, **kw: object) -> Task:
    target = kw.pop("target", HttpTarget(url="http://127.0.0.1:9/"))
    defn = TaskDefinition(name=name, target=target, **kw)  # type: ignore[arg-type]
    fire = None if minutes is None else T0 + timedelta(minutes=minutes)
    return Task(defn, False, fire, None, T0, T0 + timedelta(minutes=len(name)))


TASKS = [
    task("Nightly-Report", minutes=30, tags=("reports",)),
    task("cleanup", minutes=5, target=ShellTarget(command="true"), enabled=False),
    task("ping", tags=("checks",)),
]
LAST = {"Nightly-Report": RunStatus.FAILED, "cleanup": RunStatus.SUCCEEDED}


def names(f: TaskFilter) -> list[str]:
    return [t.name for t in select_tasks(TASKS, LAST, f)]


def test_filters_combine() -> None:
    assert names(TaskFilter()) == ["Nightly-Report", "cleanup", "ping"]
    assert names(TaskFilter(name="night")) == ["Nightly-Report"]  # any case
    assert names(TaskFilter(tag="checks")) == ["ping"]
    assert names(TaskFilter(enabled=False)) == ["cleanup"]
    assert names(TaskFilter(last_status="failed")) == ["Nightly-Report"]
    assert names(TaskFilter(last_status=NEVER_RAN)) == ["ping"]
    assert names(TaskFilter(last_status="succeeded", enabled=True)) == []


def test_sorts() -> None:
    # Never-firing definitions last; the longest name was updated last.
    assert names(TaskFilter(sort="next_fire_at")) == ["cleanup", "Nightly-Report", "ping"]
    assert names(TaskFilter(sort="updated_at")) == ["Nightly-Report", "cleanup", "ping"]


@pytest.mark.parametrize(
    ("f", "field"),
    [(TaskFilter(sort="size"), "sort"), (TaskFilter(last_status="great"), "status")],
)
def test_bad_filters_name_their_field(f: TaskFilter, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        select_tasks(TASKS, LAST, f)
    assert raised.value.field == field
