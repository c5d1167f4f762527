"""A job's arguments at enqueue, trigger and fire (issue 9, item 7), and definitions a producer
registers (item 8), on a real store: the caller's arguments override the definition's, and
what does not fit the task's signature is refused when the job is made, not when it runs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.limits import Policies
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore, create_store

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MOD = "tests.runtime.jobs_for_tests"
CODE = [TaskSource.CODE]


def py(name: str, func: str, schedule: str | None = None, **kw: object) -> TaskDefinition:
    return TaskDefinition(name=name, target=PythonTarget(f"{MOD}:{func}"), schedule=schedule, **kw)  # type: ignore[arg-type]


@pytest.fixture
def service(store: SqlStore) -> Service:
    return Service(Context(store, clock=FakeClock(NOW)))


async def made(service: Service, req: EnqueueRequest) -> tuple[list[object], dict[str, object]]:
    job = await service.get_job(await service.enqueue(req))
    return job.args, job.kwargs


async def test_the_callers_arguments_override_the_definitions(service: Service) -> None:
    hello = py("hello", "greet", kwargs={"name": "auditor"})
    both = py("both", "greet", kwargs={"name": "auditor", "greeting": "hi"})
    await service.sync_definitions([hello, both], CODE)
    # The issue: `tickwork enqueue hello --args '["x"]'` failed at run time with "multiple
    # values for argument 'name'". Positional args bind `name`: the definition's is dropped.
    assert await made(service, EnqueueRequest("hello", args=("x",))) == (["x"], {})
    assert await made(service, EnqueueRequest("both", args=("x",))) == (["x"], {"greeting": "hi"})
    assert await made(service, EnqueueRequest("hello", kwargs={"name": "me"})) == (
        [],
        {"name": "me"},
    )
    assert await made(service, EnqueueRequest("hello")) == ([], {"name": "auditor"})
    # A trigger calls with the definition's arguments, as a scheduled fire does.
    triggered = await service.get_job(await service.trigger("both"))
    assert (triggered.args, triggered.kwargs) == ([], {"name": "auditor", "greeting": "hi"})


async def test_arguments_that_do_not_fit_are_refused_when_enqueued(service: Service) -> None:
    await service.sync_definitions(
        [py("hello", "greet", kwargs={"name": "auditor"}), py("mail", "send_email")], CODE
    )
    cases = [
        (EnqueueRequest("hello", kwargs={"nme": "x"}), "unexpected keyword argument 'nme'"),
        (EnqueueRequest("mail", args=("a@example.com",)), "missing argument 'subject'"),
        (EnqueueRequest("mail", kwargs={"subject": "hi"}), "missing argument 'to'"),
        (EnqueueRequest("hello", args=("x", "y", "z")), "too many positional arguments"),
        (EnqueueRequest("hello", args=("x",), kwargs={"name": "y"}), "multiple values"),
    ]
    for req, message in cases:
        with pytest.raises(ConfigError) as caught:
            await service.enqueue(req)
        assert message in str(caught.value) and f"job {req.task_name!r}" in str(caught.value)
    with pytest.raises(ConfigError, match="missing argument 'to'"):
        await service.trigger("mail")  # its definition gives no arguments
    # enqueue_many is all or nothing: one bad request writes no job.
    with pytest.raises(ConfigError, match="nme"):
        await service.enqueue_many(
            [EnqueueRequest("hello"), EnqueueRequest("hello", kwargs={"nme": 1})]
        )
    assert await service.list_jobs() == []
    job = await service.get_job(
        await service.enqueue(
            EnqueueRequest("mail", args=("a@example.com", "hi"), kwargs={"cc": "b"})
        )
    )
    assert (job.args, job.kwargs) == (["a@example.com", "hi"], {"cc": "b"})


async def test_arguments_must_be_json_for_every_task_isolated_ones_included(
    service: Service,
) -> None:
    isolated = py("iso", "greet", policies=Policies(isolated=True))
    shell = TaskDefinition(name="sh", target=ShellTarget("true"))
    await service.sync_definitions([isolated, shell, py("hello", "greet")], CODE)
    for name in ("iso", "sh", "hello"):
        with pytest.raises(ConfigError, match="args: must be JSON"):
            await service.enqueue(EnqueueRequest(name, args=(object(),)))
        with pytest.raises(ConfigError, match="kwargs: must be JSON"):
            await service.enqueue(EnqueueRequest(name, kwargs={"name": math.nan}))
    assert await service.list_jobs() == []


async def test_a_deadline_task_must_take_job_id_and_task(service: Service) -> None:
    await service.sync_definitions(
        [py("hello", "greet"), py("alarm", "alarm"), py("bad-alarm", "greet")], CODE
    )

    def req(on_deadline: str) -> EnqueueRequest:
        return EnqueueRequest(
            "hello", kwargs={"name": "x"}, deadline_seconds=60.0, on_deadline=on_deadline
        )

    await service.enqueue(req("alarm"))
    with pytest.raises(ConfigError) as caught:
        await service.enqueue(req("bad-alarm"))
    assert caught.value.field == "on_deadline" and "'job_id'" in caught.value.reason


async def test_a_task_that_cannot_be_imported_here_goes_unchecked(store: SqlStore) -> None:
    # A producer on a host without the task's code (e.g. the CLI): arguments are not checked
    # and, without a signature, the definition's kwargs are kept (the run checks them).
    producer = Service(Context(store, clock=FakeClock(NOW)))
    remote = TaskDefinition(
        name="remote", target=PythonTarget("elsewhere.tasks:hello"), kwargs={"name": "a"}
    )
    await producer.register_missing([remote])
    assert await made(producer, EnqueueRequest("remote", args=("x",), kwargs={"any": 1})) == (
        ["x"],
        {"name": "a", "any": 1},
    )


async def test_definitions_are_checked_against_their_functions_at_sync(service: Service) -> None:
    bad = [
        (py("typo", "greet", kwargs={"nme": "x"}), "unexpected keyword argument 'nme'"),
        # Every fire calls a scheduled task with exactly its definition's arguments.
        (py("fires", "greet", schedule="@daily"), "missing argument 'name'"),
        (py("when", "greet", kwargs={"name": datetime(2026, 1, 1)}), "must be JSON"),
    ]
    for defn, message in bad:
        with pytest.raises(ConfigError) as caught:
            await service.sync_definitions([defn], CODE)
        assert message in str(caught.value) and f"job {defn.name!r}" in str(caught.value)
    # Without a schedule the definition's arguments are defaults a caller completes.
    await service.sync_definitions([py("partial", "greet", kwargs={"greeting": "yo"})], CODE)
    assert [t.name for t in await service.list_tasks()] == ["partial"]


async def test_producers_register_what_the_store_lacks_and_change_nothing(
    service: Service, store: SqlStore
) -> None:
    await service.sync_definitions([py("hello", "greet", kwargs={"name": "a"})], CODE)
    producer = Service(Context(store, clock=FakeClock(NOW + timedelta(hours=1)), resolve=None))
    stale = py("hello", "greet", kwargs={"name": "old"}, description="a producer's old copy")
    tick = py("tick", "greet", schedule="0 * * * *", kwargs={"name": "t"})
    assert await producer.register_missing([stale, tick]) == ["tick"]
    assert (await producer.get_task("hello")).definition.kwargs == {"name": "a"}
    registered = await producer.get_task("tick")
    assert registered.next_fire_at == NOW + timedelta(hours=2)
    assert registered.definition == tick
    assert await producer.register_missing([stale, tick]) == []
    # The next sync of the source sees nothing new.
    report = await service.sync_definitions(
        [py("hello", "greet", kwargs={"name": "a"}), tick], CODE
    )
    assert report.unchanged == ["hello", "tick"]
    with pytest.raises(ConfigError, match="defined twice"):
        await producer.register_missing([py("x", "greet"), py("x", "greet")])


async def test_a_task_synced_by_another_process_is_found_at_once(
    service: Service, db_url: str
) -> None:
    # An API process must not go on answering "no job named" for seconds after a process
    # that knows the job synced it (the definitions cache used to remember misses for 5 s).
    with pytest.raises(NotFoundError, match="late"):
        await service.enqueue(EnqueueRequest("late", kwargs={"name": "x"}))
    other = create_store(db_url)
    try:
        await Service(Context(other, clock=FakeClock(NOW))).sync_definitions(
            [py("late", "greet")], CODE
        )
    finally:
        await other.close()
    assert await made(service, EnqueueRequest("late", kwargs={"name": "x"})) == ([], {"name": "x"})
