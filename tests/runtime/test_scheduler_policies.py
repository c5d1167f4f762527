"""The scheduler applies a task's policies: misfire, overlap and calendar (on a real store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tickwork.clock import FakeClock
from tickwork.domain.jobs import Job, JobState
from tickwork.domain.limits import MisfirePolicy, OverlapPolicy, Policies
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.scheduler import SKIPPED_OVERLAP, Scheduler, SchedulerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)  # a Monday; first fire 12:01
BERLIN = ZoneInfo("Europe/Berlin")


def every_minute(
    policies: Policies, schedule: str = "* * * * *", timezone: str = "UTC"
) -> TaskDefinition:
    return TaskDefinition(
        name="tick",
        target=ShellTarget("true"),
        schedule=schedule,
        timezone=timezone,
        source=TaskSource.CONFIG,
        policies=policies,
    )


async def setup(
    store: SqlStore, defn: TaskDefinition, start: datetime = START
) -> tuple[FakeClock, Scheduler]:
    clock = FakeClock(start)
    await Service(Context(store, clock=clock, resolve=None)).sync_definitions(
        [defn], [TaskSource.CONFIG]
    )
    scheduler = Scheduler(
        store, SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0), clock=clock
    )
    return clock, scheduler


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


async def jobs_by_fire(store: SqlStore) -> list[Job]:
    jobs = await store.query_jobs(JobQuery(task_name="tick", limit=1000))
    return sorted(jobs, key=lambda j: j.fire_at or j.scheduled_at)


async def fires(store: SqlStore) -> list[Job]:
    """The jobs of schedule fires, by fire time (no one-off jobs)."""
    return [j for j in await jobs_by_fire(store) if j.fire_at is not None]


async def next_fire(store: SqlStore) -> datetime | None:
    task = await store.get_task("tick")
    assert task is not None
    return task.next_fire_at


# --- misfire -------------------------------------------------------------------------------------
async def test_misfire_skip_creates_nothing_after_downtime(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(misfire=MisfirePolicy.SKIP)))
    clock.advance(3600)  # down from 12:00:30 to 13:00:30: fires 12:01 .. 13:00 were missed
    assert await scheduler.run_once() == 0
    assert await jobs_by_fire(store) == []
    assert await next_fire(store) == at(13, 1)


async def test_misfire_run_once_creates_one_job_for_the_latest_missed_fire(
    store: SqlStore,
) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(misfire=MisfirePolicy.RUN_ONCE)))
    clock.advance(3600)
    assert await scheduler.run_once() == 1
    (job,) = await jobs_by_fire(store)
    assert job.fire_at == at(13, 0) and job.scheduled_at == at(13, 0)
    assert job.state is JobState.AVAILABLE
    assert await next_fire(store) == at(13, 1)
    clock.advance(30)  # 13:01:00: back on rhythm
    assert await scheduler.run_once() == 1


async def test_misfire_run_once_after_a_long_gap_of_a_sparse_schedule(store: SqlStore) -> None:
    clock, scheduler = await setup(
        store, every_minute(Policies(misfire=MisfirePolicy.RUN_ONCE), schedule="0 3 * * *")
    )
    clock.advance(10 * 86400)  # ten days down: ten 03:00 fires missed
    assert await scheduler.run_once() == 1
    (job,) = await jobs_by_fire(store)
    assert job.fire_at == datetime(2026, 3, 12, 3, 0, tzinfo=UTC)
    assert await next_fire(store) == datetime(2026, 3, 13, 3, 0, tzinfo=UTC)


async def test_misfire_catch_up_keeps_the_most_recent_up_to_the_maximum(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(misfire=MisfirePolicy.CATCH_UP)))
    clock.advance(3600)  # 60 missed fires, all within the default 1 h window; at most 10
    assert await scheduler.run_once() == 10
    jobs = await jobs_by_fire(store)
    assert [j.fire_at for j in jobs] == [at(12, m) for m in range(51, 60)] + [at(13, 0)]
    assert all(j.scheduled_at == j.fire_at and j.state is JobState.AVAILABLE for j in jobs)
    assert await next_fire(store) == at(13, 1)
    assert await scheduler.run_once() == 0  # no second burst


async def test_misfire_catch_up_only_within_the_window(store: SqlStore) -> None:
    policies = Policies(
        misfire=MisfirePolicy.CATCH_UP, catch_up_window_seconds=300, catch_up_max=100
    )
    clock, scheduler = await setup(store, every_minute(policies))
    clock.advance(3600)  # the window reaches back to 12:55:30
    assert await scheduler.run_once() == 5
    jobs = await jobs_by_fire(store)
    assert [j.fire_at for j in jobs] == [at(12, m) for m in range(56, 60)] + [at(13, 0)]
    assert await next_fire(store) == at(13, 1)


async def test_lag_within_the_grace_is_not_a_misfire(store: SqlStore) -> None:
    policies = Policies(misfire=MisfirePolicy.CATCH_UP, overlap=OverlapPolicy.ALLOW)
    clock, scheduler = await setup(
        store, every_minute(policies, schedule="* * * * * *"), start=START
    )
    clock.advance(4)  # 12:00:34: fires 31..34 are late by less than the 5 s grace
    assert await scheduler.run_once() == 4
    jobs = await jobs_by_fire(store)
    assert [j.fire_at.second for j in jobs if j.fire_at] == [31, 32, 33, 34]


# --- overlap -------------------------------------------------------------------------------------
async def test_overlap_skip_records_a_skipped_job(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=OverlapPolicy.SKIP)))
    clock.advance(30)  # 12:01
    assert await scheduler.run_once() == 1
    clock.advance(60)  # 12:02: the 12:01 job is still pending (no worker)
    assert await scheduler.run_once() == 1
    first, second = await jobs_by_fire(store)
    assert first.fire_at == at(12, 1) and first.state is JobState.AVAILABLE
    assert second.fire_at == at(12, 2) and second.state is JobState.SKIPPED
    assert second.last_error == SKIPPED_OVERLAP
    assert "overlap=skip" in SKIPPED_OVERLAP and "still active" in SKIPPED_OVERLAP
    assert second.finished_at is not None
    # A skipped job is never claimed; only the first one is.
    claimed = await store.claim("w", 10, clock.now(), 60)
    assert [j.id for j in claimed] == [first.id]


async def test_overlap_skip_fires_normally_when_nothing_is_active(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=OverlapPolicy.SKIP)))
    clock.advance(30)
    await scheduler.run_once()
    (first,) = await jobs_by_fire(store)
    await store.cancel_job(first.id, clock.now(), "test")
    clock.advance(60)
    assert await scheduler.run_once() == 1
    second = (await jobs_by_fire(store))[-1]
    assert second.fire_at == at(12, 2) and second.state is JobState.AVAILABLE


async def test_overlap_replace_cancels_pending_and_asks_running_to_stop(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=OverlapPolicy.REPLACE)))
    clock.advance(30)  # 12:01: job A
    assert await scheduler.run_once() == 1
    (a,) = await store.claim("w", 10, clock.now(), 600)  # A is running
    clock.advance(60)  # 12:02: job B; A is asked to stop
    assert await scheduler.run_once() == 1
    clock.advance(60)  # 12:03: job C; B (pending) is cancelled
    assert await scheduler.run_once() == 1
    a_now, b, c = await jobs_by_fire(store)
    assert a_now.id == a.id and a_now.state is JobState.RUNNING
    assert b.fire_at == at(12, 2) and b.state is JobState.CANCELLED
    assert b.last_error is not None and "overlap=replace" in b.last_error
    assert c.fire_at == at(12, 3) and c.state is JobState.AVAILABLE
    with store.engine.connect() as conn:
        requested = dict(
            conn.execute(
                sa.text(
                    "SELECT id, cancel_requested_at FROM tickwork_jobs WHERE task_name = 'tick'"
                )
            ).all()
        )
    assert requested[a.id] is not None  # the running job was asked to stop
    assert requested[c.id] is None


async def test_overlap_skip_ignores_a_one_off_waiting_for_a_later_time(store: SqlStore) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=OverlapPolicy.SKIP)))
    service = Service(Context(store, clock=clock, resolve=None))
    later = await service.enqueue(EnqueueRequest("tick", delay_seconds=300))  # due 12:05:30
    for minute in range(1, 6):  # 12:01 .. 12:05: nothing runs or is due: no fire is skipped
        clock.advance(30 if minute == 1 else 60)
        assert await scheduler.run_once() == 1
        fired = (await fires(store))[-1]
        assert fired.fire_at == at(12, minute) and fired.state is JobState.AVAILABLE
        assert (await service.get_job(later)).state is JobState.SCHEDULED
        await store.cancel_job(fired.id, clock.now(), "done")  # as if a worker had run it
    clock.advance(60)  # 12:06: the one-off is due (no worker took it): now it is active
    assert await scheduler.run_once() == 1
    last = (await fires(store))[-1]
    assert last.fire_at == at(12, 6) and last.state is JobState.SKIPPED


async def test_overlap_replace_leaves_a_one_off_waiting_for_a_later_time(
    store: SqlStore,
) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=OverlapPolicy.REPLACE)))
    later = await Service(Context(store, clock=clock, resolve=None)).enqueue(
        EnqueueRequest("tick", delay_seconds=300)
    )
    clock.advance(30)  # 12:01: job A
    assert await scheduler.run_once() == 1
    clock.advance(60)  # 12:02: A (due, pending) is replaced; the delayed one-off is not
    assert await scheduler.run_once() == 1
    jobs = {j.id: j for j in await store.query_jobs(JobQuery(task_name="tick", limit=10))}
    assert jobs[later].state is JobState.SCHEDULED
    states = sorted((j.fire_at, j.state) for j in jobs.values() if j.fire_at is not None)
    assert states == [(at(12, 1), JobState.CANCELLED), (at(12, 2), JobState.AVAILABLE)]


async def test_overlap_skip_counts_a_fire_waiting_for_its_calendar(store: SqlStore) -> None:
    # A fire moved to the calendar's next opening is still the previous run: later fires are
    # skipped instead of piling up for the opening.
    defn = every_minute(
        Policies(calendar={"timezone": "UTC", "days": ["mon"]}, overlap=OverlapPolicy.SKIP),
        schedule="0 10 * * *",
    )
    tuesday = datetime(2026, 3, 3, 9, 59, 30, tzinfo=UTC)
    clock, scheduler = await setup(store, defn, start=tuesday)
    clock.advance(30)
    assert await scheduler.run_once() == 1
    clock.advance(86400)  # Wednesday 10:00
    assert await scheduler.run_once() == 1
    first, second = await jobs_by_fire(store)
    assert first.state is JobState.SCHEDULED and second.state is JobState.SKIPPED


@pytest.mark.parametrize("overlap", [OverlapPolicy.ALLOW, OverlapPolicy.QUEUE])
async def test_overlap_allow_and_queue_create_the_job(
    store: SqlStore, overlap: OverlapPolicy
) -> None:
    clock, scheduler = await setup(store, every_minute(Policies(overlap=overlap)))
    clock.advance(30)
    await scheduler.run_once()
    clock.advance(60)  # the 12:01 job is still pending
    assert await scheduler.run_once() == 1
    jobs = await jobs_by_fire(store)
    assert [j.fire_at for j in jobs] == [at(12, 1), at(12, 2)]
    assert all(j.state is JobState.AVAILABLE for j in jobs)


# --- calendar ------------------------------------------------------------------------------------
async def test_calendar_moves_a_saturday_fire_to_monday_opening(store: SqlStore) -> None:
    defn = every_minute(
        Policies(
            calendar={"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"]}
        ),
        schedule="0 10 * * *",
        timezone="Europe/Berlin",
    )
    saturday = datetime(2026, 3, 7, 9, 59, 30, tzinfo=BERLIN)
    clock, scheduler = await setup(store, defn, start=saturday.astimezone(UTC))
    clock.advance(30)  # Saturday 10:00 in Berlin
    assert await scheduler.run_once() == 1
    (job,) = await jobs_by_fire(store)
    assert job.fire_at == datetime(2026, 3, 7, 10, 0, tzinfo=BERLIN)
    assert job.scheduled_at == datetime(2026, 3, 9, 9, 0, tzinfo=BERLIN)  # Monday 09:00
    assert job.state is JobState.SCHEDULED
    assert await store.claim("w", 10, clock.now(), 60) == []  # not before Monday


async def test_calendar_leaves_a_fire_within_hours_alone(store: SqlStore) -> None:
    defn = every_minute(
        Policies(calendar={"timezone": "Europe/Berlin"}, overlap=OverlapPolicy.ALLOW),
        schedule="0 10 * * *",
        timezone="Europe/Berlin",
    )
    friday = datetime(2026, 3, 6, 9, 59, 30, tzinfo=BERLIN)
    clock, scheduler = await setup(store, defn, start=friday.astimezone(UTC))
    clock.advance(30)
    assert await scheduler.run_once() == 1
    (job,) = await jobs_by_fire(store)
    assert job.scheduled_at == job.fire_at == datetime(2026, 3, 6, 10, 0, tzinfo=BERLIN)
    assert job.state is JobState.AVAILABLE


async def test_invalid_stored_calendar_does_not_stop_firing(store: SqlStore) -> None:
    defn = every_minute(Policies(calendar={"hours": "17:00-09:00"}))
    clock, scheduler = await setup(store, defn)
    clock.advance(30)
    assert await scheduler.run_once() == 1
    (job,) = await jobs_by_fire(store)
    assert job.scheduled_at == job.fire_at == at(12, 1)


def test_calendars_are_parsed_once_per_spec() -> None:
    scheduler = Scheduler(None, SchedulerSettings())  # type: ignore[arg-type]
    first = scheduler.calendar_of({"timezone": "UTC", "days": ["mon"]})
    again = scheduler.calendar_of({"days": ["mon"], "timezone": "UTC"})
    assert first is not None and first is again
    assert timedelta(0) == first.next_open(at(10, 0)) - at(10, 0)


# --- enqueue and trigger -------------------------------------------------------------------------
async def test_enqueue_waits_for_the_calendar_but_trigger_runs_now(store: SqlStore) -> None:
    defn = every_minute(Policies(calendar={"timezone": "Europe/Berlin"}), schedule="0 10 * * *")
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=BERLIN)
    clock = FakeClock(saturday.astimezone(UTC))
    service = Service(Context(store, clock=clock, resolve=None))
    await service.sync_definitions([defn], [TaskSource.CONFIG])
    queued = await service.get_job(await service.enqueue(EnqueueRequest("tick")))
    assert queued.scheduled_at == datetime(2026, 3, 9, 9, 0, tzinfo=BERLIN)
    assert queued.state is JobState.SCHEDULED
    later = await service.get_job(
        await service.enqueue(EnqueueRequest("tick", at=datetime(2026, 3, 10, 8, tzinfo=BERLIN)))
    )
    assert later.scheduled_at == datetime(2026, 3, 10, 9, 0, tzinfo=BERLIN)
    triggered = await service.get_job(await service.trigger("tick"))
    assert triggered.scheduled_at == clock.now() and triggered.state is JobState.AVAILABLE
