"""Use cases on a real store: syncing definitions, triggering, enabling, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError
from tickwork.runtime.clock import FakeClock
from tickwork.service import TRIGGER_PRIORITY_BOOST, EnqueueRequest, Service, preview
from tickwork.store import SqlStore

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def shell(name: str, schedule: str | None = "*/5 * * * *", **kw: object) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=ShellTarget("true"), schedule=schedule, source=TaskSource.CONFIG, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def service(store: SqlStore) -> Service:
    return Service(store, clock=FakeClock(NOW))


async def test_sync_creates_updates_and_marks_removed(service: Service, store: SqlStore) -> None:
    report = await service.sync_definitions([shell("a"), shell("b")], [TaskSource.CONFIG])
    assert sorted(report.created) == ["a", "b"]
    a = await service.get_task("a")
    assert a.next_fire_at == NOW + timedelta(minutes=5)
    job = await service.trigger("b")
    await store.complete([])  # nothing to write: a no-op is fine

    report = await service.sync_definitions([shell("a", "0 * * * *")], [TaskSource.CONFIG])
    assert report.updated == ["a"] and report.removed == ["b"]
    assert (await service.get_task("a")).next_fire_at == NOW + timedelta(hours=1)
    b = await service.get_task("b")
    assert b.removed and b.next_fire_at is None
    assert (await service.get_job(job)).task_name == "b"  # its history stays
    with pytest.raises(ConfigError, match="removed"):
        await service.trigger("b")

    report = await service.sync_definitions(
        [shell("a", "0 * * * *"), shell("b")], [TaskSource.CONFIG]
    )
    assert report.unchanged == ["a"] and report.updated == ["b"]
    assert not (await service.get_task("b")).removed


async def test_sync_leaves_other_sources_alone(service: Service) -> None:
    code = TaskDefinition(name="code-task", target=PythonTarget("json:dumps"))
    await service.sync_definitions([code], [TaskSource.CODE])
    report = await service.sync_definitions([shell("a")], [TaskSource.CONFIG])
    assert report.removed == []
    assert not (await service.get_task("code-task")).removed


async def test_invalid_definitions_write_nothing(service: Service) -> None:
    bad = [shell("ok"), TaskDefinition(name="bad", target=PythonTarget("no_such_mod:fn"))]
    with pytest.raises(ConfigError) as info:
        await service.sync_definitions(bad, [TaskSource.CONFIG])
    assert "bad" in str(info.value) and "no_such_mod" in str(info.value)
    with pytest.raises(ConfigError, match="defined twice"):
        await service.sync_definitions([shell("x"), shell("x")], [TaskSource.CONFIG])
    assert await service.list_tasks() == []


async def test_operator_disable_survives_a_resync(service: Service) -> None:
    await service.sync_definitions([shell("a")], [TaskSource.CONFIG])
    await service.set_enabled("a", False)
    await service.sync_definitions([shell("a")], [TaskSource.CONFIG])
    task = await service.get_task("a")
    assert not task.definition.enabled and task.next_fire_at is None


async def test_trigger_outranks_scheduled_work(service: Service, store: SqlStore) -> None:
    await service.sync_definitions([shell("a", priority=3)], [TaskSource.CONFIG])
    await store.enqueue(
        [NewJob("a", NOW - timedelta(hours=1), TriggeredBy.SCHEDULER, priority=3)], NOW
    )
    manual = await service.trigger("a")
    claimed = await store.claim("w", 1, NOW, 60)
    assert [j.id for j in claimed] == [manual]
    assert claimed[0].priority == 3 + TRIGGER_PRIORITY_BOOST
    assert claimed[0].triggered_by is TriggeredBy.MANUAL


async def test_enqueue_at_delay_and_cancel(service: Service) -> None:
    await service.sync_definitions([shell("a", None)], [TaskSource.CONFIG])
    later = await service.enqueue(EnqueueRequest("a", delay_seconds=30))
    job = await service.get_job(later)
    assert job.state is JobState.SCHEDULED and job.scheduled_at == NOW + timedelta(seconds=30)
    at = await service.enqueue(EnqueueRequest("a", at=NOW - timedelta(days=1)))
    assert (await service.get_job(at)).state is JobState.AVAILABLE
    assert (await service.cancel(later)).state is JobState.CANCELLED
    with pytest.raises(InvalidStateError):
        await service.cancel(later)
    with pytest.raises(NotFoundError):
        await service.cancel(999_999)
    with pytest.raises(NotFoundError, match="nope"):
        await service.enqueue(EnqueueRequest("nope"))
    with pytest.raises(ConfigError, match="not both"):
        await service.enqueue(EnqueueRequest("a", at=NOW, delay_seconds=1))
    with pytest.raises(ConfigError, match="offset"):
        await service.enqueue(EnqueueRequest("a", at=datetime(2026, 1, 1)))


def test_preview_lists_fires_in_the_schedule_timezone() -> None:
    # NOW is 10:00 in Berlin: today's 09:00 has passed.
    fires = preview("0 9 * * MON-FRI", "Europe/Berlin", NOW, 3)
    assert [f.isoformat() for f in fires] == [
        "2026-06-02T09:00:00+02:00",
        "2026-06-03T09:00:00+02:00",
        "2026-06-04T09:00:00+02:00",
    ]
    with pytest.raises(ConfigError, match="count"):
        preview("@daily", "UTC", NOW, 0)


async def test_definition_arguments_are_defaults(service: Service) -> None:
    defn = TaskDefinition(
        name="greet",
        target=PythonTarget("json:dumps"),
        args=(1,),
        kwargs={"indent": 2, "sort_keys": True},
    )
    await service.sync_definitions([defn], [TaskSource.CODE])
    plain = await service.get_job(await service.enqueue(EnqueueRequest("greet")))
    assert plain.args == [1] and plain.kwargs == {"indent": 2, "sort_keys": True}
    given = await service.get_job(
        await service.enqueue(EnqueueRequest("greet", args=(5,), kwargs={"indent": 4}))
    )
    assert given.args == [5] and given.kwargs == {"indent": 4, "sort_keys": True}
    triggered = await service.get_job(await service.trigger("greet"))
    assert triggered.args == [1] and triggered.kwargs == {"indent": 2, "sort_keys": True}
