"""The Store contract of searching definitions (``search_tasks``: ``TaskFilter`` on the stored
columns, sorted, paged by offset or by name) and of each task's latest run status, on SQLite
and on PostgreSQL through the ``store`` fixture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import FAILING, NEVER_RAN, TaskFilter, TaskPage
from tickwork.domain.tasks import HttpTarget, ShellTarget, TaskDefinition, TaskKind, new_pause
from tickwork.errors import ConfigError
from tickwork.store import SqlStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def defn(name: str, **kw: Any) -> TaskDefinition:
    target = kw.pop("target", HttpTarget(url="http://127.0.0.1:9/"))
    return TaskDefinition(name=name, target=target, **kw)


async def run(store: SqlStore, name: str, started: datetime, status: RunStatus) -> None:
    (job_id,) = await store.enqueue([NewJob(name, started, TriggeredBy.API)], started)
    outcome = Outcome(status)
    await store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=name,
                attempt=1,
                triggered_by=TriggeredBy.API,
                worker_id="w",
                started_at=started,
                finished_at=started + timedelta(seconds=1),
                outcome=outcome,
                next_state=JobState.SUCCEEDED,
            )
        ]
    )


@pytest.fixture
async def listed(store: SqlStore) -> SqlStore:
    """Three definitions (each added at its own time, the longest name last), their runs and
    states:

    - ``Nightly-Report``: fires at minute 30, tagged ``reports``, last run failed;
    - ``cleanup``: a shell job firing at minute 5, disabled, last run succeeded after a
      timeout that started earlier but was recorded later;
    - ``ping``: on demand, tagged ``checks`` and ``a"b``, never ran, paused."""
    added = [
        (defn("ping", tags=("checks", 'a"b')), None),
        (defn("cleanup", target=ShellTarget(command="true"), enabled=False), at(5)),
        (defn("Nightly-Report", tags=("reports",)), at(30)),
    ]
    for i, (d, fire) in enumerate(added):
        await store.add_missing_tasks([d], {d.name: fire}, at(i))
    await store.set_task_enabled("cleanup", False, at(5), at(1))
    await run(store, "Nightly-Report", at(10), RunStatus.SUCCEEDED)
    await run(store, "Nightly-Report", at(20), RunStatus.FAILED)
    await run(store, "cleanup", at(20), RunStatus.SUCCEEDED)
    await run(store, "cleanup", at(15), RunStatus.TIMEOUT)  # recorded last, started earlier
    await store.pause_task("ping", new_pause("upstream down", None, "ops", at(3)))
    return store


LATER = at(60)


async def names(store: SqlStore, f: TaskFilter, now: datetime = LATER, **kw: Any) -> list[str]:
    return [t.name for t in (await store.search_tasks(f, now, **kw)).tasks]


async def test_filters_combine(listed: SqlStore) -> None:
    assert await names(listed, TaskFilter()) == ["Nightly-Report", "cleanup", "ping"]
    assert await names(listed, TaskFilter(name="NIGHT")) == ["Nightly-Report"]  # any case
    assert await names(listed, TaskFilter(tag="checks")) == ["ping"]
    assert await names(listed, TaskFilter(tag='a"b')) == ["ping"]
    assert await names(listed, TaskFilter(tag="check")) == []  # a whole tag, not a part
    assert await names(listed, TaskFilter(kind=TaskKind.SHELL)) == ["cleanup"]
    assert await names(listed, TaskFilter(enabled=False)) == ["cleanup"]
    assert await names(listed, TaskFilter(paused=True)) == ["ping"]
    assert await names(listed, TaskFilter(paused=False)) == ["Nightly-Report", "cleanup"]
    assert await names(listed, TaskFilter(last_status="failed")) == ["Nightly-Report"]
    assert await names(listed, TaskFilter(last_status=FAILING)) == ["Nightly-Report"]
    assert await names(listed, TaskFilter(last_status=NEVER_RAN)) == ["ping"]
    # The latest run is the newest by start: cleanup's timeout started before its success.
    assert await names(listed, TaskFilter(last_status="succeeded")) == ["cleanup"]
    assert await names(listed, TaskFilter(last_status="succeeded", enabled=True)) == []


async def test_name_filter_takes_like_wildcards_literally(store: SqlStore) -> None:
    await store.add_missing_tasks([defn("a_b"), defn("axb")], {}, T0)
    assert await names(store, TaskFilter(name="_")) == ["a_b"]
    assert await names(store, TaskFilter(name="%")) == []


async def test_removed_and_paused_as_of_now(listed: SqlStore) -> None:
    await listed.remove_task("cleanup", at(40))
    assert await names(listed, TaskFilter(removed=True)) == ["cleanup"]
    assert await names(listed, TaskFilter(removed=False)) == ["Nightly-Report", "ping"]
    await listed.pause_task("Nightly-Report", new_pause("later", at(90), "ops", at(41)))
    assert await names(listed, TaskFilter(paused=True), at(89)) == ["Nightly-Report", "ping"]
    assert await names(listed, TaskFilter(paused=True), at(90)) == ["ping"]  # its end came


async def test_sorts(listed: SqlStore) -> None:
    # Never-firing definitions last; updated_at newest first (cleanup was disabled at 1).
    by_fire = await names(listed, TaskFilter(sort="next_fire_at"))
    assert by_fire == ["cleanup", "Nightly-Report", "ping"]
    assert await names(listed, TaskFilter(sort="updated_at")) == [
        "Nightly-Report",
        "cleanup",
        "ping",
    ]


async def test_pages_by_offset_and_by_name(store: SqlStore) -> None:
    all_names = [f"job-{i:02d}" for i in range(12)]
    await store.add_missing_tasks([defn(n) for n in reversed(all_names)], {}, T0)

    async def page(**kw: Any) -> TaskPage:
        return await store.search_tasks(TaskFilter(), T0, **kw)

    first = await page(limit=5)
    assert [t.name for t in first.tasks] == all_names[:5]
    assert (first.total, first.more, first.last) == (12, True, {})
    second = await page(after="job-04", limit=5)
    assert [t.name for t in second.tasks] == all_names[5:10]
    assert (second.total, second.more) == (12, True)
    last = await page(after="job-09", limit=5)
    assert [t.name for t in last.tasks] == all_names[10:] and not last.more
    between = await page(after="job-045", limit=2)  # any name is a position
    assert [t.name for t in between.tasks] == ["job-05", "job-06"]
    assert [t.name for t in (await page(offset=10)).tasks] == all_names[10:]
    assert (await page(after="zzz")).tasks == []
    whole = await page()
    assert [t.name for t in whole.tasks] == all_names and not whole.more
    assert whole.tasks[0] == await store.get_task("job-00")  # read whole
    with pytest.raises(ConfigError) as raised:
        await store.search_tasks(TaskFilter(sort="updated_at"), T0, after="job-04")
    assert raised.value.field == "after"


async def test_last_run_statuses_are_of_the_newest_run_by_start(listed: SqlStore) -> None:
    statuses = await listed.last_run_statuses(["Nightly-Report", "cleanup", "ping", "nope"])
    assert statuses == {"Nightly-Report": RunStatus.FAILED, "cleanup": RunStatus.SUCCEEDED}
    assert await listed.last_run_statuses([]) == {}
    # Two runs started at the same time: the one recorded last.
    await run(listed, "ping", at(50), RunStatus.FAILED)
    await run(listed, "ping", at(50), RunStatus.SKIPPED)
    assert await listed.last_run_statuses(["ping"]) == {"ping": RunStatus.SKIPPED}
    assert await names(listed, TaskFilter(last_status="skipped")) == ["ping"]


async def test_name_order_is_by_code_point_with_or_without_a_status_filter(
    store: SqlStore,
) -> None:
    # Upper case before lower case, "-" and "." before digits, ":" after them: Python's order
    # of strings, whatever the database's own collation says (a language's ignores case and
    # punctuation first).
    odd = ["b-job", "B2", "a10", "a9", "Zeta", "zulu", "a-1", "A_1", "a.1", "a:1", "Z9"]
    if store.dialect == "postgresql":
        # The column in a language's order (ICU English) rather than the test database's
        # C.UTF-8, which happens to be code point order: the pages must not follow it.
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                'ALTER TABLE tickwork_tasks ALTER COLUMN name TYPE varchar(200) COLLATE "en-x-icu"'
            )
    await store.add_missing_tasks([defn(n) for n in odd], {}, T0)
    for name in odd:
        await run(store, name, at(1), RunStatus.FAILED)
    expected = sorted(odd)
    assert expected[:3] == ["A_1", "B2", "Z9"]  # the rule the test is about
    for f in (TaskFilter(), TaskFilter(last_status=FAILING)):
        shown: list[str] = []
        after = None
        while True:
            page = await store.search_tasks(f, T0, after=after, limit=3)
            assert page.total == len(odd)
            shown += [t.name for t in page.tasks]
            if not page.more:
                break
            after = shown[-1]
        assert shown == expected, f
        assert [t.name for t in (await store.search_tasks(f, T0, offset=8)).tasks] == expected[8:]
