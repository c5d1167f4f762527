"""The rules of lists of job definitions that need no store: a filter's checks, and the sorts
(``domain.queries``; the filters themselves run in the store: ``test_task_search_store``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.queries import TaskFilter, TaskKey, sort_task_keys
from tickwork.errors import ConfigError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


KEYS = [
    TaskKey("ping", None, minutes(4)),
    TaskKey("cleanup", minutes(5), minutes(7)),
    TaskKey("Nightly-Report", minutes(30), minutes(14)),
    TaskKey("backup", None, minutes(9)),
    TaskKey("alpha", minutes(5), minutes(7)),
]


def order(sort: str) -> list[str]:
    keys = list(KEYS)
    sort_task_keys(keys, sort)
    return [k.name for k in keys]


def test_sorts() -> None:
    assert order("name") == ["Nightly-Report", "alpha", "backup", "cleanup", "ping"]
    # Soonest fire first (ties by name); never-firing ones last, by their last change.
    assert order("next_fire_at") == ["alpha", "cleanup", "Nightly-Report", "ping", "backup"]
    # Newest change first, ties by name.
    assert order("updated_at") == ["Nightly-Report", "backup", "alpha", "cleanup", "ping"]


@pytest.mark.parametrize(
    ("kw", "field"), [({"sort": "size"}, "sort"), ({"last_status": "great"}, "status")]
)
def test_bad_filters_name_their_field(kw: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        TaskFilter(**kw)  # type: ignore[arg-type]
    assert raised.value.field == field
