"""The scheduler on a real store, driven by a fake clock: fires, misfires, one job per fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.clock import FakeClock
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore, create_store

START = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)


def every_second(name: str = "tick") -> TaskDefinition:
    return TaskDefinition(
        name=name, target=ShellTarget("true"), schedule="* * * * * *", source=TaskSource.CONFIG
    )


async def setup(store: SqlStore, *defs: TaskDefinition) -> tuple[FakeClock, Scheduler]:
    clock = FakeClock(START)
    await Service(Context(store, clock=clock)).sync_definitions(list(defs), [TaskSource.CONFIG])
    scheduler = Scheduler(
        store, SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0), clock=clock
    )
    return clock, scheduler


async def test_fires_once_per_due_time(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_second())
    assert await scheduler.run_once() == 0  # next fire is 12:00:01
    clock.advance(0.5)
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0  # the same fire is not fired twice
    clock.advance(3)  # three fires became due: 02, 03, 04 (within the grace: catch up)
    assert await scheduler.run_once() == 3
    jobs = await store.query_jobs(JobQuery(task_name="tick"))
    fires = sorted(j.fire_at for j in jobs if j.fire_at)
    assert [f.second for f in fires] == [1, 2, 3, 4]
    assert all(j.scheduled_at == j.fire_at and j.triggered_by.value == "scheduler" for j in jobs)
    task = await store.get_task("tick")
    assert task is not None and task.next_fire_at == datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


async def test_misfire_after_downtime_skips_stale_fires(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_second())
    clock.advance(3600)  # down for an hour: far beyond the 5 s grace
    assert await scheduler.run_once() == 0
    task = await store.get_task("tick")
    assert task is not None and task.next_fire_at is not None
    assert task.next_fire_at > clock.now()
    clock.advance(1)
    assert await scheduler.run_once() == 1  # back on rhythm, with no burst


async def test_two_schedulers_create_one_job_per_fire(db_url: str) -> None:
    a, b = create_store(db_url), create_store(db_url)
    try:
        clock, first = await setup(a, every_second())
        second = Scheduler(
            b, SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0), clock=clock
        )
        for _ in range(4):
            clock.advance(1)
            await first.run_once()
            await second.run_once()
        jobs = await a.query_jobs(JobQuery(task_name="tick"))
        assert len(jobs) == 4
        assert len({j.fire_at for j in jobs}) == 4
    finally:
        await a.close()
        await b.close()


async def test_disabled_task_does_not_fire(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_second())
    await Service(Context(store, clock=clock)).set_enabled("tick", False)
    clock.advance(10)
    assert await scheduler.run_once() == 0
    service = Service(Context(store, clock=clock))
    task = await service.set_enabled("tick", True)
    assert task.next_fire_at == clock.now().replace(microsecond=0) + timedelta(seconds=1)


async def test_lookahead_creates_jobs_ahead_as_scheduled(store: SqlStore) -> None:
    clock = FakeClock(START)  # 12:00:00.5; the next fire is 12:00:01
    await Service(Context(store, clock=clock)).sync_definitions(
        [every_second()], [TaskSource.CONFIG]
    )
    scheduler = Scheduler(store, SchedulerSettings(lookahead_seconds=0.6), clock=clock)
    assert await scheduler.run_once() == 1
    (job,) = await store.query_jobs(JobQuery(task_name="tick"))
    assert job.state.value == "scheduled"
    assert job.scheduled_at == datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    assert await store.claim("w", 10, clock.now(), 60) == []  # not due yet
