"""Job definitions made over the API (``[[jobs]]``-shaped tables) and the queries the API uses,
through ``Service`` on a real store; every change is read back from the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import AuditEntry, AuditQuery, Principal, Scope
from tickwork.domain.jobs import Completion, JobState, Outcome, RunStatus
from tickwork.domain.tasks import HttpTarget, ShellTarget, TaskDefinition, TaskKind, TaskSource
from tickwork.errors import ConfigError, ConflictError, InvalidStateError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.service.queries import JobQuery, RunQuery
from tickwork.store import SqlStore

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
ALICE = Principal(name="alice", scopes=frozenset({Scope.JOBS_WRITE, Scope.JOBS_TRIGGER}))


def ping(name: str = "ping", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": "*/5 * * * *",
        "http": {
            "url": "https://example.com/ping",
            "headers": {"Authorization": "Bearer s3cret"},
        },
        **extra,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def service(store: SqlStore, clock: FakeClock) -> Service:
    return Service(Context(store, clock=clock)).as_actor(ALICE, request_id="req-1")


async def audit(service: Service, target: str) -> list[AuditEntry]:
    """The audit entries of one job, oldest first."""
    entries = await service.audit_log(AuditQuery(target=target))
    return sorted(entries, key=lambda e: e.id)


async def test_create_from_a_job_table(service: Service, store: SqlStore) -> None:
    changes = 0

    def changed() -> None:
        nonlocal changes
        changes += 1

    service.ctx.on_schedules_changed = changed
    task = await service.create_task(ping(timeout="30s", tags=["net"], overlap="queue"))
    assert task.definition.source is TaskSource.API
    assert isinstance(task.definition.target, HttpTarget)
    assert task.definition.timeout_seconds == 30.0
    assert task.next_fire_at == NOW + timedelta(minutes=5)
    assert changes == 1  # an in-process scheduler re-reads
    assert await store.get_task("ping") == task
    assert service.task_table(task) == {
        **ping(),
        "http": {**ping()["http"], "method": "GET"},
        "timeout": 30.0,
        "tags": ["net"],
        "overlap": "queue",
    }

    [entry] = await audit(service, "ping")
    assert (entry.action, entry.target_type, entry.actor) == ("job.create", "job", "alice")
    assert entry.request_id == "req-1" and entry.at == NOW and entry.before is None
    assert entry.after is not None and entry.after["schedule"] == "*/5 * * * *"
    # Header values may be credentials: the audit log keeps the names only.
    assert entry.after["http"]["headers"] == {"Authorization": "<redacted>"}
    assert "s3cret" not in repr(entry)

    with pytest.raises(ConflictError, match="'ping' already exists"):
        await service.create_task(ping())


@pytest.mark.parametrize(
    ("table", "field", "message"),
    [
        (ping(schedule="*/5 * * *x"), "schedule", "schedule"),
        (ping(timezone="Mars/Base"), "timezone", "Mars/Base"),
        (ping(retries=3), "retries", "unknown key 'retries'"),
        ({"name": "sh", "command": "rm -rf /"}, "command", "shell jobs cannot be defined"),
        ({"name": "py", "task": "os:system"}, "task", "python jobs cannot be defined"),
        (ping(guard="os:abort"), "guard", "guards cannot be set over the API"),
        (ping(timeout=-1), "timeout", "must not be negative"),
    ],
)
async def test_create_refuses_bad_tables_naming_the_field(
    service: Service, store: SqlStore, table: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        await service.create_task(table)
    assert info.value.field == field
    assert message in str(info.value)
    assert info.value.job == table["name"]
    assert await store.list_tasks() == []
    assert await audit(service, table["name"]) == []


async def test_shell_allowed_when_configured(store: SqlStore, clock: FakeClock) -> None:
    service = Service(
        Context(store, clock=clock, api_job_kinds=frozenset({TaskKind.HTTP, TaskKind.SHELL}))
    )
    task = await service.create_task({"name": "sh", "command": "true", "env": {"PW": "x"}})
    assert isinstance(task.definition.target, ShellTarget)
    [entry] = await audit(service, "sh")
    assert entry.actor == "local" and entry.after is not None
    assert entry.after["env"] == {"PW": "<redacted>"}


async def test_named_calendars_of_the_service(store: SqlStore, clock: FakeClock) -> None:
    office = {"timezone": "UTC", "days": ["mon"], "hours": "09:00-17:00"}
    service = Service(Context(store, clock=clock, calendars={"office": office}))
    task = await service.create_task(ping(calendar="office"))
    assert task.definition.policies.calendar == office
    with pytest.raises(ConfigError, match="unknown calendar 'home'") as info:
        await service.create_task(ping("other", calendar="home"))
    assert info.value.field == "calendar"


async def test_update_merges_changes_and_audits_before_after(
    service: Service, store: SqlStore, clock: FakeClock
) -> None:
    await service.create_task(ping(description="old", priority=2))
    await service.set_enabled("ping", False)
    clock.advance(60)

    updated = await service.update_task(
        "ping", {"description": "new", "priority": None, "timeout": "10s"}
    )
    defn = updated.definition
    assert (defn.description, defn.priority, defn.timeout_seconds) == ("new", 0, 10.0)
    assert defn.enabled is False  # kept: not among the changes
    assert defn.schedule == "*/5 * * * *" and defn.source is TaskSource.API
    assert isinstance(defn.target, HttpTarget)
    assert defn.target.headers == {"Authorization": "Bearer s3cret"}  # untouched keys stay

    entries = await audit(service, "ping")
    assert [e.action for e in entries] == ["job.create", "job.disable", "job.update"]
    before, after = entries[-1].before, entries[-1].after
    assert before is not None and after is not None
    assert (before["description"], before["priority"], before["enabled"]) == ("old", 2, False)
    assert after["description"] == "new" and "priority" not in after
    assert after["timeout"] == 10.0 and after["enabled"] is False

    enabled = await service.update_task("ping", {"enabled": True})
    assert enabled.definition.enabled is True
    assert enabled.next_fire_at == NOW + timedelta(minutes=5)


async def test_changed_schedule_gets_a_new_next_fire(
    service: Service, store: SqlStore, clock: FakeClock
) -> None:
    created = await service.create_task(ping())
    assert created.next_fire_at == NOW + timedelta(minutes=5)
    clock.advance(90)
    same = await service.update_task("ping", {"description": "rhythm kept"})
    assert same.next_fire_at == created.next_fire_at
    hourly = await service.update_task("ping", {"schedule": "0 * * * *"})
    assert hourly.next_fire_at == NOW.replace(hour=9)
    kolkata = await service.update_task("ping", {"timezone": "Asia/Kolkata"})
    # 08:01:30 UTC is 13:31:30 in Kolkata (+05:30): the next full hour there is 14:00.
    assert kolkata.next_fire_at == datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
    unscheduled = await service.update_task("ping", {"schedule": None})
    assert unscheduled.next_fire_at is None and unscheduled.definition.schedule is None
    # The schedule-change history is in the audit entries' before/after.
    changes = [
        (e.before or {}).get("schedule")
        for e in await audit(service, "ping")
        if e.action == "job.update"
    ]
    assert changes == ["*/5 * * * *", "*/5 * * * *", "0 * * * *", "0 * * * *"]


async def test_update_refuses_bad_changes(service: Service, store: SqlStore) -> None:
    await service.create_task(ping())
    with pytest.raises(ConfigError) as info:
        await service.update_task("ping", {"schedule": "every day"})
    assert (info.value.job, info.value.field) == ("ping", "schedule")
    with pytest.raises(ConfigError, match="cannot be renamed") as renamed:
        await service.update_task("ping", {"name": "pong"})
    assert renamed.value.field == "name"
    with pytest.raises(ConfigError, match="shell jobs cannot be defined"):
        await service.update_task("ping", {"http": None, "command": "true"})
    with pytest.raises(NotFoundError, match="no job named 'nope'"):
        await service.update_task("nope", {"priority": 1})
    stored = await store.get_task("ping")
    assert stored is not None and stored.definition.schedule == "*/5 * * * *"
    assert [e.action for e in await audit(service, "ping")] == ["job.create"]


async def test_jobs_from_config_or_code_cannot_be_changed_over_the_api(
    service: Service, store: SqlStore
) -> None:
    config = TaskDefinition(
        name="cfg", target=ShellTarget("true"), schedule="@hourly", source=TaskSource.CONFIG
    )
    code = TaskDefinition(name="code", target=HttpTarget("https://e.com/"), source=TaskSource.CODE)
    await service.sync_definitions([config], [TaskSource.CONFIG])
    await service.sync_definitions([code], [TaskSource.CODE])
    with pytest.raises(ConflictError, match=r"defined in tickwork\.toml; it can only be changed"):
        await service.update_task("cfg", {"priority": 1})
    with pytest.raises(ConflictError, match=r"defined in code \(@app\.task\); it can only be del"):
        await service.delete_task("code")
    with pytest.raises(ConflictError, match=r"'cfg' already exists \(defined in tickwork\.toml"):
        await service.create_task(ping("cfg"))
    # Enabling, disabling and triggering work for every job.
    assert (await service.set_enabled("cfg", False)).definition.enabled is False
    job_id = await service.trigger("code")
    assert (await service.get_job(job_id)).task_name == "code"
    stored = await store.get_task("cfg")
    assert stored is not None and stored.definition.priority == 0 and not stored.removed


async def test_delete_cancels_pending_jobs_keeps_history(
    service: Service, store: SqlStore, clock: FakeClock
) -> None:
    await service.create_task(ping())
    job_id = await service.enqueue(EnqueueRequest(task_name="ping", delay_seconds=600))
    clock.advance(5)
    deleted = await service.delete_task("ping")
    assert deleted.removed and deleted.next_fire_at is None
    job = await service.get_job(job_id)
    assert job.state is JobState.CANCELLED and job.last_error == "job definition deleted"
    entries = await audit(service, "ping")
    assert [e.action for e in entries] == ["job.create", "job.delete"]
    assert entries[-1].before is not None and entries[-1].before["name"] == "ping"
    with pytest.raises(NotFoundError, match="deleted"):
        await service.delete_task("ping")
    with pytest.raises(NotFoundError, match="deleted"):
        await service.update_task("ping", {"priority": 1})
    with pytest.raises(ConflictError, match="existed and was deleted"):
        await service.create_task(ping())
    assert (await service.get_task("ping")).removed


async def test_reschedule_is_audited(service: Service, store: SqlStore) -> None:
    await service.create_task(ping())
    job_id = await service.enqueue(EnqueueRequest(task_name="ping", delay_seconds=600))
    later = NOW + timedelta(hours=2)
    moved = await service.reschedule(job_id, later)
    assert (moved.state, moved.scheduled_at) == (JobState.SCHEDULED, later)
    entries = await audit(service, str(job_id))
    [entry] = [e for e in entries if e.action == "queue_job.reschedule"]
    assert (entry.target_type, entry.actor, entry.request_id) == ("queue_job", "alice", "req-1")
    assert entry.before == {"scheduled_at": (NOW + timedelta(minutes=10)).isoformat()}
    assert entry.after == {"scheduled_at": later.isoformat()}

    with pytest.raises(ConfigError, match="no UTC offset") as naive:
        await service.reschedule(job_id, datetime(2026, 6, 1, 10, 0))
    assert naive.value.field == "at"
    with pytest.raises(NotFoundError, match="no job with ID 999999"):
        await service.reschedule(999_999, later)
    await service.cancel(job_id)
    with pytest.raises(InvalidStateError, match="is cancelled"):
        await service.reschedule(job_id, later)


async def test_query_validation(service: Service, store: SqlStore) -> None:
    for bad, field in (
        (RunQuery(sort="name"), "sort"),
        (RunQuery(limit=0), "limit"),
        (RunQuery(limit=1001), "limit"),
        (RunQuery(offset=-1), "offset"),
        (RunQuery(started_from=datetime(2026, 1, 1)), "started_from"),
        (RunQuery(started_to=datetime(2026, 1, 1)), "started_to"),
    ):
        with pytest.raises(ConfigError) as info:
            await service.query_runs(bad)
        assert info.value.field == field, bad
    with pytest.raises(ConfigError, match="from 1 to 1000"):
        await service.query_jobs(JobQuery(limit=5000))
    assert await service.query_runs(RunQuery(sort="duration", ascending=True)) == []
    with pytest.raises(NotFoundError, match="no run with ID 7"):
        await service.get_run(7)


async def test_query_jobs_and_runs_through_the_service(service: Service, store: SqlStore) -> None:
    await service.create_task(ping())
    ids = [await service.trigger("ping") for _ in range(3)]
    jobs = await service.query_jobs(JobQuery(task_name="ping", limit=2))
    assert [j.id for j in jobs] == ids[:0:-1]
    [claimed] = await store.claim("w", 1, NOW, 30.0)
    await store.complete(
        [
            Completion(
                job_id=claimed.id,
                task_name="ping",
                attempt=1,
                triggered_by=claimed.run_triggered_by,
                worker_id="w",
                started_at=NOW,
                finished_at=NOW + timedelta(seconds=2),
                outcome=Outcome(RunStatus.SUCCEEDED),
                next_state=JobState.SUCCEEDED,
            )
        ]
    )
    [run] = await service.query_runs(RunQuery(task_name="ping"))
    assert run.job_id == claimed.id and await service.get_run(run.id) == run
