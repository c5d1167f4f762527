"""Service actions in the audit log (enable/disable, trigger, cancel, reset-stuck, enqueues made
through ``as_actor``) and reading it back with ``Service.audit_log``, on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import AuditQuery, Principal, Scope, processor_principal
from tickwork.domain.jobs import JobState
from tickwork.domain.tasks import HttpTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

T0 = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
BOB = Principal(name="bob", scopes=frozenset({Scope.JOBS_TRIGGER}))
CONFIG = [TaskSource.CONFIG]


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store, clock=FakeClock(T0), resolve=None))
    await svc.sync_definitions(
        [
            TaskDefinition(
                name="backup",
                target=ShellTarget("true"),
                schedule="@daily",
                source=TaskSource.CONFIG,
            )
        ],
        [TaskSource.CONFIG],
    )
    return svc


async def actions(service: Service) -> list[tuple[str, str, str, str]]:
    return [
        (e.actor, e.action, e.target_type, e.target)
        for e in await service.audit_log(AuditQuery(limit=1000))
    ][::-1]


async def test_actions_are_audited_with_their_actor(service: Service) -> None:
    as_bob = service.as_actor(BOB, request_id="req-7")
    await as_bob.set_enabled("backup", False)
    await service.set_enabled("backup", True)
    job_id = await as_bob.trigger("backup")
    await as_bob.cancel(job_id)
    assert await actions(service) == [
        ("local", "job.create", "job", "backup"),  # the fixture's sync
        ("bob", "job.disable", "job", "backup"),
        ("local", "job.enable", "job", "backup"),
        ("bob", "job.trigger", "job", "backup"),  # a trigger is not also an enqueue
        ("bob", "queue_job.cancel", "queue_job", str(job_id)),
    ]
    _, disable, enable, trigger, cancel = await service.audit_log(AuditQuery(after_id=0))
    assert disable.before == {"enabled": True} and disable.after == {"enabled": False}
    assert disable.request_id == "req-7" and enable.request_id is None
    assert trigger.after == {"job_id": job_id}
    assert cancel.after is not None and cancel.after["state"] == JobState.CANCELLED.value
    assert disable.at == T0


async def test_enqueues_are_audited_only_through_as_actor(service: Service) -> None:
    await service.enqueue(EnqueueRequest("backup"))  # in-process producer: the hot path
    await service.enqueue_many([EnqueueRequest("backup")] * 2)
    synced = [("local", "job.create", "job", "backup")]
    assert await actions(service) == synced
    as_bob = service.as_actor(BOB)
    one = await as_bob.enqueue(EnqueueRequest("backup"))
    many = await as_bob.enqueue_many([EnqueueRequest("backup"), EnqueueRequest("backup")])
    assert await actions(service) == [
        *synced,
        ("bob", "queue_job.enqueue", "queue_job", str(one)),
        ("bob", "queue_job.enqueue", "queue_job", "2 jobs"),
    ]
    entries = await service.audit_log(AuditQuery(action="queue_job."))
    assert [e.after for e in entries] == [{"job_ids": many}, {"job_ids": [one]}]
    assert service.audit_enqueues is False  # the view did not change the shared service


async def test_reset_stuck_is_audited_with_the_jobs(store: SqlStore, service: Service) -> None:
    job_id = await service.enqueue(EnqueueRequest("backup"))
    (claimed,) = await store.claim("w1", 1, T0, 60.0)
    assert claimed.id == job_id
    assert isinstance(service.clock, FakeClock)
    service.clock.advance(600)
    jobs = await service.reset_stuck(300)
    assert [j.id for j in jobs] == [job_id]
    (entry,) = await service.audit_log(AuditQuery(action="processor.reset_stuck"))
    assert entry.target_type == "processor"
    assert entry.after == {"older_than_seconds": 300, "count": 1, "job_ids": [job_id]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (AuditQuery(limit=0), "limit"),
        (AuditQuery(limit=1001), "limit"),
        (AuditQuery(since=datetime(2026, 1, 1)), "since"),
        (AuditQuery(until=datetime(2026, 1, 1)), "until"),
    ],
)
async def test_audit_log_rejects_bad_queries(
    service: Service, query: AuditQuery, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await service.audit_log(query)
    assert caught.value.field == field


async def test_audit_log_filters_by_time(service: Service) -> None:
    await service.set_enabled("backup", False)
    assert isinstance(service.clock, FakeClock)
    service.clock.advance(60)
    await service.set_enabled("backup", True)
    found = await service.audit_log(AuditQuery(since=T0 + timedelta(seconds=30)))
    assert [e.action for e in found] == ["job.enable"]


def _http(name: str, schedule: str, token: str = "s3cret") -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=HttpTarget(url="https://example.com/hook", headers={"Authorization": token}),
        schedule=schedule,
        source=TaskSource.CONFIG,
    )


async def test_sync_changes_are_audited_as_the_processor(store: SqlStore) -> None:
    # What tickwork.toml or code changes at a start is in the audit log and each job's history,
    # by the process that synced, with before/after like API changes, secrets redacted.
    clock = FakeClock(T0)
    node = Service(Context(store, clock=clock, resolve=None, actor=processor_principal("node-1")))
    await node.sync_definitions([_http("ping", "@hourly"), _http("gone", "@daily")], CONFIG)
    await node.set_enabled("ping", False)  # the operator's switch survives syncs
    clock.advance(60)
    after = Service(Context(store, clock=clock, resolve=None, actor=processor_principal("node-2")))
    report = await after.sync_definitions([_http("ping", "*/5 * * * *", "n3w")], CONFIG)
    assert report.updated == ["ping"] and report.removed == ["gone"]
    await after.sync_definitions([_http("ping", "*/5 * * * *", "n3w")], CONFIG)  # unchanged
    clock.advance(60)
    await node.sync_definitions(
        [_http("ping", "*/5 * * * *", "n3w"), _http("gone", "@daily")], CONFIG
    )

    entries = list(reversed(await node.audit_log(AuditQuery(action="job."))))
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("processor:node-1", "job.create", "ping"),
        ("processor:node-1", "job.create", "gone"),
        ("processor:node-1", "job.disable", "ping"),
        ("processor:node-2", "job.update", "ping"),
        ("processor:node-2", "job.delete", "gone"),
        ("processor:node-1", "job.restore", "gone"),
    ]
    create, _, _, update, delete, restore = entries
    redacted = {"Authorization": "<redacted>"}
    assert create.before is None and create.after is not None
    assert create.after["schedule"] == "@hourly" and create.after["http"]["headers"] == redacted
    assert update.before is not None and update.after is not None
    assert (update.before["schedule"], update.after["schedule"]) == ("@hourly", "*/5 * * * *")
    assert update.before["enabled"] is False and update.after["enabled"] is False
    assert update.after["http"]["headers"] == redacted and update.at == T0 + timedelta(seconds=60)
    assert "s3cret" not in str(entries) and "n3w" not in str(entries)
    assert delete.before is not None and delete.before["name"] == "gone" and delete.after is None
    assert restore.after is not None and restore.after["schedule"] == "@daily"


async def test_definitions_a_producer_registers_are_audited(store: SqlStore) -> None:
    producer = Service(Context(store, clock=FakeClock(T0), resolve=None, actor=BOB))
    assert await producer.register_missing([_http("ping", "@hourly")]) == ["ping"]
    assert await producer.register_missing([_http("ping", "@daily")]) == []
    (entry,) = await producer.audit_log(AuditQuery(target="ping"))
    assert (entry.actor, entry.action) == ("bob", "job.create")
    assert entry.after is not None and entry.after["http"]["headers"] == {
        "Authorization": "<redacted>"
    }
