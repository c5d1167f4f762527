"""Use cases on a real store: syncing definitions, triggering, enabling, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.definitions import preview
from tickwork.service.facade import Service
from tickwork.service.jobs import TRIGGER_PRIORITY_BOOST, EnqueueRequest
from tickwork.store import SqlStore

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def shell(name: str, schedule: str | None = "*/5 * * * *", **kw: object) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=ShellTarget("true"), schedule=schedule, source=TaskSource.CONFIG, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def service(store: SqlStore) -> Service:
    return Service(Context(store, clock=FakeClock(NOW)))


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


async def test_enqueue_with_deadline_creates_the_watchdog(
    service: Service, store: SqlStore
) -> None:
    alarm = shell("alarm", None, priority=7, kwargs={"dropped": True})
    await service.sync_definitions([shell("a", None), alarm], [TaskSource.CONFIG])
    job_id = await service.enqueue(
        EnqueueRequest("a", delay_seconds=10, deadline_seconds=60, on_deadline="alarm")
    )
    [watchdog] = await service.list_jobs(task_name="alarm")
    assert watchdog.scheduled_at == NOW + timedelta(seconds=70)  # after the job's own time
    assert watchdog.kwargs == {"job_id": job_id, "task": "a"} and watchdog.args == []
    assert watchdog.priority == 7 and watchdog.triggered_by is TriggeredBy.API
    at_time = NOW + timedelta(hours=2)
    other = await service.enqueue(EnqueueRequest("a", deadline_at=at_time, on_deadline="alarm"))
    watchdogs = await service.list_jobs(task_name="alarm")
    assert {w.kwargs["job_id"]: w.scheduled_at for w in watchdogs}[other] == at_time


async def test_enqueue_many_with_unique_keys(service: Service) -> None:
    await service.sync_definitions([shell("a", None)], [TaskSource.CONFIG])
    ids = await service.enqueue_many(
        [
            EnqueueRequest("a", unique_key="k"),
            EnqueueRequest("a"),
            EnqueueRequest("a", unique_key="k", unique_for_seconds=60),
        ]
    )
    assert ids[0] == ids[2] != ids[1]
    assert await service.enqueue(EnqueueRequest("a", unique_key="k")) == ids[0]
    assert len(await service.list_jobs()) == 2


async def test_enqueue_unique_and_deadline_validation(service: Service) -> None:
    await service.sync_definitions([shell("a", None), shell("alarm", None)], [TaskSource.CONFIG])
    with pytest.raises(NotFoundError, match="nope"):
        await service.enqueue(EnqueueRequest("a", deadline_seconds=5, on_deadline="nope"))
    with pytest.raises(ConfigError, match=r"^on_deadline: "):
        await service.enqueue(EnqueueRequest("a", deadline_seconds=5))
    with pytest.raises(ConfigError, match=r"^on_deadline: "):
        await service.enqueue(EnqueueRequest("a", deadline_at=NOW + timedelta(hours=1)))
    with pytest.raises(ConfigError, match=r"^deadline: "):
        await service.enqueue(EnqueueRequest("a", on_deadline="alarm"))
    with pytest.raises(ConfigError, match=r"^deadline: .*not both"):
        await service.enqueue(
            EnqueueRequest(
                "a", deadline_seconds=5, deadline_at=NOW + timedelta(1), on_deadline="alarm"
            )
        )
    with pytest.raises(ConfigError, match=r"^deadline_at: .*offset"):
        await service.enqueue(
            EnqueueRequest("a", deadline_at=datetime(2030, 1, 1), on_deadline="alarm")
        )
    with pytest.raises(ConfigError, match=r"^deadline_at: .*not after"):
        await service.enqueue(
            EnqueueRequest("a", delay_seconds=60, deadline_at=NOW, on_deadline="alarm")
        )
    with pytest.raises(ConfigError, match=r"^deadline_seconds: "):
        await service.enqueue(EnqueueRequest("a", deadline_seconds=0, on_deadline="alarm"))
    with pytest.raises(ConfigError, match=r"^unique_for_seconds: .*unique_key"):
        await service.enqueue(EnqueueRequest("a", unique_for_seconds=60))
    with pytest.raises(ConfigError, match=r"^unique_for_seconds: "):
        await service.enqueue(EnqueueRequest("a", unique_key="k", unique_for_seconds=-1))
    assert await service.list_jobs() == []  # nothing was written
