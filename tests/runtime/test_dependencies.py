"""Dependencies in the processes, on both backends: a scheduled fire that ``requires`` an upstream
within a time window runs when it held and is a missed fire ``dependency`` naming it when not;
a definitions sync refuses a cycle and an unknown upstream; a processor releases a chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.dependency_runs import run
from tickwork.clock import FakeClock
from tickwork.domain.activity import MissedFireQuery, MissedReason
from tickwork.domain.dependencies import After, Requirement, UpstreamOn
from tickwork.domain.jobs import JobState, RunStatus, TriggeredBy
from tickwork.domain.limits import Policies
from tickwork.domain.queries import DueSchedule, JobQuery
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings, plan_fire
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore

# 07:00 UTC is 08:00 in Berlin (winter time).
MORNING = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def shell(name: str, **policies: object) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=ShellTarget("true"),
        source=TaskSource.CONFIG,
        policies=Policies(**policies),  # type: ignore[arg-type]
    )


def report(since: str, on: UpstreamOn = UpstreamOn.SUCCESS) -> TaskDefinition:
    return TaskDefinition(
        name="report",
        target=ShellTarget("true"),
        schedule="30 8 * * *",
        timezone="Europe/Berlin",
        source=TaskSource.CONFIG,
        policies=Policies(requires=(Requirement("extract", since, on),)),
    )


async def setup(store: SqlStore, *defs: TaskDefinition) -> tuple[FakeClock, Scheduler, Service]:
    clock = FakeClock(MORNING - timedelta(hours=2))
    service = Service(Context(store, clock=clock))
    await service.sync_definitions(list(defs), [TaskSource.CONFIG])
    scheduler = Scheduler(
        store, SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0), clock=clock
    )
    return clock, scheduler, service


async def fire_at_0830(clock: FakeClock, scheduler: Scheduler, day: int = 0) -> int:
    fire = MORNING + timedelta(days=day, minutes=30)
    clock.advance((fire - clock.now()).total_seconds() + 0.1)
    return await scheduler.run_once()


async def test_the_fire_runs_when_the_upstream_succeeded_within_the_window(
    store: SqlStore,
) -> None:
    clock, scheduler, _ = await setup(store, shell("extract"), report("08:00"))
    await run(store, "extract", RunStatus.SUCCEEDED, at=MORNING + timedelta(minutes=10))
    assert await fire_at_0830(clock, scheduler) == 1
    (job,) = await store.query_jobs(JobQuery(task_name="report"))
    assert job.triggered_by is TriggeredBy.SCHEDULER
    assert await store.query_missed_fires(MissedFireQuery(task_name="report")) == []


async def test_the_fire_is_missed_with_the_reason_dependency_when_not(store: SqlStore) -> None:
    clock, scheduler, service = await setup(store, shell("extract"), report("08:00"))
    # Before the window (07:50 Berlin), and a failure inside it: neither counts.
    await run(store, "extract", RunStatus.SUCCEEDED, at=MORNING - timedelta(minutes=11))
    await run(store, "extract", RunStatus.FAILED, at=MORNING + timedelta(minutes=5))
    assert await fire_at_0830(clock, scheduler) == 0
    assert await store.query_jobs(JobQuery(task_name="report")) == []
    (missed,) = await service.missed_fires(MissedFireQuery(task_name="report"))
    assert missed.reason is MissedReason.DEPENDENCY
    assert missed.fire_at == MORNING + timedelta(minutes=30)
    assert missed.detail is not None
    assert "requirement not met: extract succeeded since 08:00" in missed.detail
    task = await store.get_task("report")  # the schedule moves on
    assert task is not None and task.next_fire_at == MORNING + timedelta(days=1, minutes=30)


async def test_a_duration_window_and_the_failed_branch(store: SqlStore) -> None:
    clock, scheduler, service = await setup(
        store, shell("extract"), report("30m", UpstreamOn.FAILED)
    )
    await run(store, "extract", RunStatus.FAILED, at=MORNING + timedelta(minutes=10))
    assert await fire_at_0830(clock, scheduler) == 1
    await run(store, "extract", RunStatus.FAILED, at=MORNING + timedelta(days=1, minutes=-20))
    assert await fire_at_0830(clock, scheduler, day=1) == 0  # 50 min before: outside 30m
    (missed,) = await service.missed_fires(MissedFireQuery(task_name="report"))
    assert missed.detail is not None and "extract failed since 30m" in missed.detail


async def test_a_sync_refuses_a_cycle_and_an_unknown_upstream(store: SqlStore) -> None:
    service = Service(Context(store, clock=FakeClock(MORNING)))
    loop = [shell("a", after=(After("b"),)), shell("b", after=(After("a"),))]
    with pytest.raises(ConfigError, match="dependency cycle a → b → a"):
        await service.sync_definitions(loop, [TaskSource.CONFIG])
    with pytest.raises(ConfigError, match="unknown job 'missing'"):
        await service.sync_definitions([shell("a", after=(After("missing"),))], [TaskSource.CONFIG])
    assert await store.list_tasks() == []


async def test_a_processor_releases_a_chain(store: SqlStore) -> None:
    """extract → load → publish on real shell jobs, released by the scheduler role."""
    service = Service(Context(store))
    await service.sync_definitions(
        [
            shell("extract"),
            shell("load", after=(After("extract"),)),
            shell("publish", after=(After("load"),)),
        ],
        [TaskSource.CONFIG],
    )
    processor = Processor(store, ProcessorSettings(poll_interval_seconds=0.2))
    await processor.start()
    try:
        assert processor.releaser is not None
        await processor.releaser.run_once(force=True)  # its first pass sets the cursor
        await service.trigger("extract")
        for _ in range(200):
            query = JobQuery(task_name="publish", states=[JobState.SUCCEEDED])
            done = await store.query_jobs(query)
            if done:
                break
            await asyncio.sleep(0.05)
        (published,) = done
        (loaded,) = await store.query_jobs(JobQuery(task_name="load"))
        (load_run,) = await service.runs_of_job(loaded.id)
        assert published.released_by_run_id == load_run.id
        assert published.triggered_by is TriggeredBy.DEPENDENCY
    finally:
        await processor.stop()


def test_an_unmet_requirement_holds_the_fire_before_the_overlap_policy() -> None:
    fire_at = MORNING + timedelta(minutes=30)
    due = DueSchedule(
        task_name="report",
        schedule="30 8 * * *",
        timezone="UTC",
        next_fire_at=fire_at,
        args=[],
        kwargs={},
        priority=0,
        max_attempts=1,
        active_jobs=1,  # overlap=skip would skip it
        unmet=("extract succeeded since 08:00 (2026-03-02T07:00:00+00:00)",),
    )
    fire = plan_fire(due, lambda after: after + timedelta(days=1), fire_at, 5)
    assert fire.job is None and fire.extra_jobs == () and not fire.cancel_active
    (missed,) = fire.missed
    assert missed.reason is MissedReason.DEPENDENCY and not missed.skipped_job
    assert missed.detail == (
        "requirement not met: extract succeeded since 08:00 (2026-03-02T07:00:00+00:00)"
    )
    assert fire.next_fire_at == fire_at + timedelta(days=1)
