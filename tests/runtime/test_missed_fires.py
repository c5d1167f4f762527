"""Every fire that did not become a run is recorded with its reason, by a real scheduler on a
real store (FakeClock): overlap, misfire, no_scheduler, calendar, paused, disabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.clock import FakeClock
from tickwork.domain.activity import MAX_MISSED_ROWS_PER_GAP, MissedFireQuery, MissedReason
from tickwork.domain.jobs import JobState
from tickwork.domain.limits import MisfirePolicy, OverlapPolicy, Policies
from tickwork.domain.queries import ControlState, JobQuery, ProcessorInfo
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.scheduler import (
    SKIPPED_CALENDAR,
    SKIPPED_OVERLAP,
    SKIPPED_PAUSED,
    Scheduler,
    SchedulerSettings,
)
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore

START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)  # a Monday; first fire 12:01


def at(hour: int, minute: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def tick(policies: Policies, schedule: str = "* * * * *") -> TaskDefinition:
    return TaskDefinition(
        name="tick",
        target=ShellTarget("true"),
        schedule=schedule,
        source=TaskSource.CONFIG,
        policies=policies,
    )


async def setup(
    store: SqlStore, defn: TaskDefinition, start: datetime = START
) -> tuple[FakeClock, Scheduler, Service]:
    clock = FakeClock(start)
    service = Service(Context(store, clock=clock, resolve=None))
    await service.sync_definitions([defn], [TaskSource.CONFIG])
    scheduler = Scheduler(
        store,
        SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0, processor_id="me"),
        clock=clock,
    )
    return clock, scheduler, service


async def missed(store: SqlStore) -> list:  # type: ignore[type-arg]
    rows = await store.query_missed_fires(MissedFireQuery(limit=1000))
    return sorted(rows, key=lambda m: m.fire_at)


async def test_overlap_skip_is_recorded_with_its_skipped_job(store: SqlStore) -> None:
    clock, scheduler, _ = await setup(store, tick(Policies(overlap=OverlapPolicy.SKIP)))
    await scheduler.run_once()  # 12:00:30: starts watching, nothing due
    clock.advance(30)  # 12:01
    assert await scheduler.run_once() == 1
    assert await missed(store) == []  # a fire that became a job is not missed
    clock.advance(60)  # 12:02: the 12:01 job still waits (no worker)
    await scheduler.run_once()
    (row,) = await missed(store)
    skipped = [
        j
        for j in await store.query_jobs(JobQuery(task_name="tick", limit=10))
        if j.state is JobState.SKIPPED
    ]
    assert row.reason is MissedReason.OVERLAP and row.fire_at == at(12, 2)
    assert row.detail == SKIPPED_OVERLAP
    assert row.job_id == skipped[0].id and row.recorded_at == clock.now()


async def test_overlap_skip_while_paused_is_recorded_as_paused(store: SqlStore) -> None:
    clock, scheduler, _ = await setup(store, tick(Policies(overlap=OverlapPolicy.SKIP)))
    clock.advance(30)
    await scheduler.run_once()
    # Paused cluster-wide, as the heartbeat hands it over.
    await store.set_control(ControlState(paused=True, updated_at=clock.now(), updated_by="op"))
    scheduler.apply_control(await store.get_control())
    clock.advance(60)
    await scheduler.run_once()
    (row,) = await missed(store)
    assert row.reason is MissedReason.PAUSED and row.detail == SKIPPED_PAUSED
    assert row.job_id is not None
    scheduler.apply_control(ControlState())  # resumed: an overlap is an overlap again
    clock.advance(60)
    await scheduler.run_once()
    assert [m.reason for m in await missed(store)] == [MissedReason.PAUSED, MissedReason.OVERLAP]


async def test_fire_while_the_calendar_is_closed_and_one_waits_is_recorded_as_calendar(
    store: SqlStore,
) -> None:
    defn = tick(
        Policies(calendar={"timezone": "UTC", "days": ["mon"]}, overlap=OverlapPolicy.SKIP),
        schedule="0 10 * * *",
    )
    tuesday = datetime(2026, 3, 3, 9, 59, 30, tzinfo=UTC)
    clock, scheduler, _ = await setup(store, defn, start=tuesday)
    clock.advance(30)
    assert await scheduler.run_once() == 1  # Tuesday's fire waits for Monday
    clock.advance(86400)  # Wednesday 10:00: closed, and Tuesday's still waits
    await scheduler.run_once()
    (row,) = await missed(store)
    assert row.reason is MissedReason.CALENDAR and row.fire_at == at(10, 0, day=4)
    assert row.detail == SKIPPED_CALENDAR and row.job_id is not None


async def test_misfire_while_a_scheduler_was_up_is_a_misfire(store: SqlStore) -> None:
    clock, scheduler, _ = await setup(store, tick(Policies(misfire=MisfirePolicy.SKIP)))
    await scheduler.run_once()  # up since 12:00:30
    clock.advance(5 * 60)  # the scheduler was up but did not fire (stuck) until 12:05:30
    assert await scheduler.run_once() == 0
    rows = await missed(store)
    assert [m.fire_at for m in rows] == [at(12, m) for m in range(1, 6)]
    assert {m.reason for m in rows} == {MissedReason.MISFIRE}
    assert "misfire=skip" in (rows[0].detail or "") and rows[0].job_id is None


async def test_a_gap_that_began_while_another_scheduler_was_up_is_a_misfire(
    store: SqlStore,
) -> None:
    clock, _, _ = await setup(store, tick(Policies(misfire=MisfirePolicy.RUN_ONCE)))
    # Another scheduler process was last seen at 12:02:10, then nothing until 12:30:30.
    seen = START + timedelta(minutes=1, seconds=40)
    await store.heartbeat(ProcessorInfo("old", "scheduler+worker", "h", 1, "0", START, seen, None))
    clock.advance(30 * 60)
    scheduler = Scheduler(
        store,
        SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0, processor_id="me"),
        clock=clock,
    )
    assert await scheduler.run_once() == 1  # run_once: the 12:30 fire runs
    rows = await missed(store)
    # Fires 12:01 .. 12:29 were dropped; the gap began while "old" was still up (12:01 was its
    # to fire): by the gap's first fire, a misfire.
    assert {m.reason for m in rows} == {MissedReason.MISFIRE}
    assert len(rows) == MAX_MISSED_ROWS_PER_GAP
    assert "19 more missed fire(s) not listed" in (rows[-1].detail or "")


async def test_a_gap_with_no_scheduler_at_all_is_no_scheduler(store: SqlStore) -> None:
    clock, _, service = await setup(store, tick(Policies()))
    await store.heartbeat(
        ProcessorInfo("old", "scheduler", "h", 1, "0", START, START, START)  # stopped 12:00:30
    )
    clock.advance(3 * 3600)  # nothing ran for three hours
    scheduler = Scheduler(
        store,
        SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0, processor_id="me"),
        clock=clock,
    )
    await scheduler.run_once()
    rows = await missed(store)
    assert {m.reason for m in rows} == {MissedReason.NO_SCHEDULER}
    assert rows[0].fire_at == at(12, 1) and len(rows) == MAX_MISSED_ROWS_PER_GAP
    assert "170 more missed fire(s) not listed" in (rows[-1].detail or "")
    # Counted per task and reason (rows, the rest in the last row's detail).
    (count,) = await service.missed_counts(MissedFireQuery())
    assert (count.task_name, count.reason, count.count) == ("tick", MissedReason.NO_SCHEDULER, 10)


async def test_a_very_long_gap_is_walked_only_so_far(store: SqlStore) -> None:
    clock, scheduler, _ = await setup(store, tick(Policies(), schedule="every 1s"))
    await scheduler.run_once()
    clock.advance(7 * 86400)  # a week of a per-second schedule: 604,800 fires
    await scheduler.run_once()
    rows = await missed(store)
    assert len(rows) == MAX_MISSED_ROWS_PER_GAP
    assert "at least 9990 more" in (rows[-1].detail or "")


async def test_fires_of_a_disabled_task_are_recorded_when_it_is_enabled_again(
    store: SqlStore,
) -> None:
    clock, scheduler, service = await setup(store, tick(Policies()))
    await service.set_enabled("tick", False)  # at 12:00:30
    clock.advance(3 * 60)
    assert await scheduler.run_once() == 0  # a disabled task is not due
    await service.set_enabled("tick", True)  # 12:03:30
    rows = await missed(store)
    assert [m.fire_at for m in rows] == [at(12, 1), at(12, 2), at(12, 3)]
    assert {m.reason for m in rows} == {MissedReason.DISABLED}
    # Enabling an enabled task records nothing more.
    await service.set_enabled("tick", True)
    assert len(await missed(store)) == 3
