"""Auto-rescheduling passes on SQLite and PostgreSQL, on runs inserted with known outcomes and
a fake clock: each change stored apart from the definition with its audit entry, the
scheduler firing the effective schedule, the breaker's half-open probe, interrupted runs left
out, the override kept by a re-sync, undone by the use case."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.access import AuditQuery
from tickwork.domain.alert_records import AlertKey
from tickwork.domain.alert_states import Status
from tickwork.domain.autoschedule import AutoSettings, Breaker, Override, Rule
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.limits import Policies
from tickwork.domain.spread import spread_offset
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.errors import InvalidStateError
from tickwork.runtime.autoscheduler import AutoScheduler
from tickwork.runtime.evaluator import Evaluator
from tickwork.runtime.notify.report_mail import render_html, render_text
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore
from tickwork.wire_report import report_out

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTINGS = AutoSettings(enabled=True, cooldown_seconds=3600)


def http(name: str, schedule: str = "*/5 * * * *", **policies: object) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=HttpTarget(url="https://example.com"),
        schedule=schedule,
        policies=Policies(**policies),  # type: ignore[arg-type]
    )


async def define(store: SqlStore, *defs: TaskDefinition, now: datetime = T0) -> None:
    fires = {d.name: now + timedelta(minutes=5) for d in defs}
    await store.sync_tasks(list(defs), [TaskSource.CODE], fires, now)


async def finish(store: SqlStore, task: str, statuses: Sequence[str], end: datetime) -> None:
    """Runs of ``task`` with these outcomes (oldest first), the last one finishing at ``end``."""
    day = end - timedelta(days=1)
    ids = await store.enqueue([NewJob(task, day, TriggeredBy.API) for _ in statuses], day)
    claimed = await store.claim("w", len(ids), day, 3600)
    assert sorted(j.id for j in claimed) == ids
    done = []
    for i, (job_id, status) in enumerate(zip(ids, statuses, strict=True)):
        started = end - timedelta(minutes=len(statuses) - i, seconds=2)
        run = RunStatus(status)
        outcome = Outcome(run) if run is RunStatus.SUCCEEDED else Outcome.failure("E", "boom")
        done.append(
            Completion(
                job_id=job_id,
                task_name=task,
                attempt=1,
                triggered_by=TriggeredBy.API,
                worker_id="w",
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                outcome=dataclasses.replace(outcome, status=run),
                next_state=JobState(status),
            )
        )
    await store.complete(done)


def spread_failures(failed: int, total: int = 100) -> list[str]:
    statuses = ["succeeded"] * total
    for i in range(failed):
        statuses[(i * total) // failed] = "failed"
    statuses[-1] = "succeeded"
    return statuses


async def test_stretch_is_stored_apart_audited_kept_by_a_resync_and_undone(
    store: SqlStore,
) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"), http("fine"))
    await finish(store, "etl", spread_failures(62), T0)
    await finish(store, "fine", ["succeeded"] * 99 + ["failed"], T0)
    done = await AutoScheduler(store, SETTINGS, clock=clock).run_once()
    assert [(c.rule, c.evidence) for c in done.changes] == [
        (Rule.STRETCH, "62 of the last 100 runs failed")
    ]
    task = await store.get_task("etl")
    assert task is not None
    assert task.definition.schedule == "*/5 * * * *"  # the definition untouched
    assert task.auto == Override(stride=2, changed_at=T0)
    assert task.next_fire_at == T0 + timedelta(minutes=10)
    [entry] = await store.query_audit(AuditQuery(action="job.auto_reschedule"))
    assert (entry.actor, entry.target_type, entry.target) == ("tickwork", "job", "etl")
    assert entry.after is not None and entry.before is not None
    assert entry.after["rule"] == "stretch"
    assert entry.after["evidence"] == "62 of the last 100 runs failed"
    assert entry.after["effective"] == "every 2nd fire"
    assert entry.before["schedule"] == "*/5 * * * *" and entry.before["stride"] == 1

    # The same pass again: no fresh evidence, no change.
    clock.advance(60)
    assert (await AutoScheduler(store, SETTINGS, clock=clock).run_once()).changes == ()

    # A re-sync of tickwork.toml (the definition changed too) keeps the override.
    changed = dataclasses.replace(http("etl"), description="nightly load")
    await store.sync_tasks([changed, http("fine")], [TaskSource.CODE], {}, clock.now())
    task = await store.get_task("etl")
    assert task is not None and task.definition.description == "nightly load"
    assert task.auto.stride == 2

    # Undo: the definition's schedule back, audited as the caller.
    service = Service(Context(store, clock=clock))
    undone = await service.undo_reschedule("etl")
    assert not undone.auto.active and undone.auto.changed_at == clock.now()
    assert undone.next_fire_at == T0 + timedelta(minutes=5)
    [undo] = await store.query_audit(AuditQuery(action="job.undo_reschedule"))
    assert undo.target == "etl" and undo.before is not None and undo.before["stride"] == 2
    with pytest.raises(InvalidStateError, match="nothing to undo"):
        await service.undo_reschedule("etl")


async def test_the_scheduler_fires_the_effective_schedule(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"))
    await finish(store, "etl", spread_failures(70), T0)
    await AutoScheduler(store, SETTINGS, clock=clock).run_once()
    scheduler = Scheduler(store, SchedulerSettings(), clock=clock)
    clock.set(T0 + timedelta(minutes=10))
    assert await scheduler.run_once() == 1
    task = await store.get_task("etl")
    assert task is not None and task.next_fire_at == T0 + timedelta(minutes=20)


async def test_breaker_opens_then_probe_success_restores(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"))
    await finish(store, "etl", ["succeeded", "failed", "timeout", "failed"], T0)
    auto = AutoScheduler(store, SETTINGS, clock=clock)
    [opened] = (await auto.run_once()).changes
    assert (opened.action, opened.evidence) == ("job.auto_disable", "3 consecutive failures")
    task = await store.get_task("etl")
    assert task is not None and task.auto.breaker is Breaker.OPEN
    assert task.next_fire_at is None
    # Held: even a schedule whose next fire is set again (an enable, a sync) does not fire.
    await store.set_task_enabled("etl", True, T0 + timedelta(minutes=5), T0)
    clock.set(T0 + timedelta(minutes=5))
    assert await Scheduler(store, SchedulerSettings(), clock=clock).run_once() == 0

    clock.set(T0 + timedelta(minutes=59))  # within the cool-down
    assert (await auto.run_once()).changes == ()
    clock.set(T0 + timedelta(hours=1))
    [probe] = (await auto.run_once()).changes
    assert probe.action == "job.auto_probe"
    task = await store.get_task("etl")
    assert task is not None and task.auto.breaker is Breaker.HALF_OPEN
    probe_id = task.auto.probe_job_id
    assert probe_id is not None
    job = await store.get_job(probe_id)
    assert job is not None and job.task_name == "etl" and job.max_attempts == 1
    assert (await auto.run_once()).changes == ()  # the trial run has not run yet

    clock.advance(120)
    await complete_job(store, probe_id, "etl", "succeeded", clock.now())
    [restored] = (await auto.run_once()).changes
    assert (restored.action, restored.evidence) == ("job.auto_restore", "the trial run succeeded")
    task = await store.get_task("etl")
    assert task is not None and not task.auto.active
    assert task.next_fire_at is not None and task.next_fire_at > clock.now()
    actions = [e.action for e in await store.query_audit(AuditQuery(target="etl"))]
    assert actions == ["job.auto_restore", "job.auto_probe", "job.auto_disable"]


async def test_probe_failure_reopens(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"))
    await finish(store, "etl", ["failed"] * 3, T0)
    auto = AutoScheduler(store, SETTINGS, clock=clock)
    await auto.run_once()
    clock.advance(3600)
    await auto.run_once()
    task = await store.get_task("etl")
    assert task is not None and task.auto.probe_job_id is not None
    clock.advance(60)
    await complete_job(store, task.auto.probe_job_id, "etl", "failed", clock.now())
    [reopened] = (await auto.run_once()).changes
    assert reopened.action == "job.auto_disable"
    assert reopened.evidence == "the trial run ended failed"
    task = await store.get_task("etl")
    assert task is not None and task.auto.breaker is Breaker.OPEN
    assert task.auto.breaker_at == clock.now() and task.next_fire_at is None


async def complete_job(store: SqlStore, job_id: int, task: str, status: str, at: datetime) -> None:
    [claimed] = await store.claim("w", 1, at, 60)
    assert claimed.id == job_id
    run = RunStatus(status)
    outcome = Outcome(run) if run is RunStatus.SUCCEEDED else Outcome.failure("E", "boom")
    await store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=task,
                attempt=claimed.attempt,
                triggered_by=claimed.triggered_by,
                worker_id="w",
                started_at=at,
                finished_at=at + timedelta(seconds=1),
                outcome=outcome,
                next_state=JobState(status),
            )
        ]
    )


async def test_interrupted_runs_never_count(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"))
    await finish(store, "etl", ["succeeded"] * 20, T0 - timedelta(hours=1))
    # Five runs interrupted by restarts of tickwork (released by a stopping worker).
    for i in range(5):
        now = T0 + timedelta(minutes=i)
        await store.enqueue([NewJob("etl", now, TriggeredBy.API)], now)
        [job] = await store.claim("w", 1, now, 60)
        assert await store.release("w", [job.id], now + timedelta(seconds=1), "stopping") == 1
        await store.cancel_job(job.id, now + timedelta(seconds=2), "test")
    clock.set(T0 + timedelta(minutes=10))
    assert (await AutoScheduler(store, SETTINGS, clock=clock).run_once()).changes == ()
    assert not (await store.get_task("etl")).auto.active  # type: ignore[union-attr]


async def test_spread_and_per_job_switches(store: SqlStore) -> None:
    clock = FakeClock(T0)
    names = [f"report-{i}" for i in range(11)]
    defs = [http(n, "0 * * * *") for n in names[:-1]]
    defs.append(http(names[-1], "0 * * * *", autoschedule={"spread": False}))
    await define(store, *defs)
    done = await AutoScheduler(store, SETTINGS, clock=clock).run_once()
    spread = {c.after.offset_seconds for c in done.changes}
    assert len(done.changes) == 10 and all(c.rule is Rule.SPREAD for c in done.changes)
    assert spread == {spread_offset(n, 3600) for n in names[:-1]}
    task = await store.get_task("report-0")
    assert task is not None
    offset = timedelta(seconds=spread_offset("report-0", 3600))
    assert task.next_fire_at == T0 + offset  # the fire of 09:00 moved, not skipped
    untouched = await store.get_task(names[-1])
    assert untouched is not None and not untouched.auto.active
    # Overrides of many tasks in one read (the alert kinds' facts).
    overrides = await store.auto_overrides([*names, "nothing"])
    assert set(overrides) == set(names[:-1])


async def test_one_pass_at_a_time(store: SqlStore) -> None:
    lock = await store.lock_autoschedule()
    assert lock is not None
    try:
        result = await AutoScheduler(store, SETTINGS, clock=FakeClock(T0)).run_once()
        assert result.skipped
    finally:
        await lock.release()
    assert not (await AutoScheduler(store, SETTINGS, clock=FakeClock(T0)).run_once()).skipped


async def test_alert_kinds_fire_on_the_override_and_resolve_on_undo(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"), http("load"))
    await finish(store, "etl", ["failed"] * 3, T0)
    await finish(store, "load", spread_failures(70), T0)
    await AutoScheduler(store, SETTINGS, clock=clock).run_once()
    table = {
        "rules": [
            {"name": "off", "kind": "auto_disabled"},
            {"name": "moved", "kind": "auto_rescheduled"},
        ],
        "channels_default": ["ops"],
        "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}},
    }
    evaluator = Evaluator(store, alerts_from_table(table, {}), clock=clock)
    await evaluator.evaluate()
    states = await store.alert_states()
    firing = {(k.rule, k.subject): s.why for k, s in states.items() if s.status is Status.FIRING}
    assert firing == {
        ("off", "task:etl"): "auto-disabled (circuit breaker open) since 2026-03-02 09:00 UTC",
        ("moved", "task:load"): "auto-rescheduled: every 2nd fire since 2026-03-02 09:00 UTC",
    }
    clock.advance(60)
    await Service(Context(store, clock=clock)).undo_reschedule("load")
    await evaluator.evaluate()
    state = (await store.alert_states(["moved"]))[AlertKey("moved", "task:load")]
    assert state.status is Status.OK


async def test_the_weekly_report_lists_auto_disabled_jobs(store: SqlStore) -> None:
    clock = FakeClock(T0)
    await define(store, http("etl"), http("fine"))
    await finish(store, "etl", ["failed", "failed", "failed"], T0)
    await AutoScheduler(store, SETTINGS, clock=clock).run_once()
    report = await Service(Context(store, clock=clock, resolve=None)).report(since="7d")
    assert [(a.task_name, a.since, a.trial_queued) for a in report.auto_disabled] == [
        ("etl", T0, False)
    ]
    assert 'data-auto-disabled="etl"' in render_html(report)
    assert "etl: auto-disabled" in render_text(report, None)
    assert report_out(report).auto_disabled[0].task == "etl"
