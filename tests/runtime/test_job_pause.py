"""Pausing one job definition (issue 12): its schedule does not fire, each fire it would have
made is a missed fire ``paused``, it resumes by itself at ``until``, a sync keeps the pause.
A real scheduler on a real store of each backend, with a FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import AuditQuery, Principal
from tickwork.domain.activity import MissedFire, MissedFireQuery, MissedReason, NewMissedFire
from tickwork.domain.jobs import Job, JobState, TriggeredBy
from tickwork.domain.limits import OverlapPolicy, Policies
from tickwork.domain.queries import DueSchedule, JobQuery
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.tasks import (
    MAX_PAUSE_REASON,
    ShellTarget,
    TaskDefinition,
    TaskPause,
    TaskSource,
)
from tickwork.errors import ConfigError, NotFoundError
from tickwork.runtime.scheduler import Scheduler, SchedulerSettings, plan_fire
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore

START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)  # first fire of "* * * * *": 12:01
ANN = Principal(name="ann", scopes=frozenset())


def at(minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 3, 2, 12, minute, second, microsecond, tzinfo=UTC)


def tick(description: str = "") -> TaskDefinition:
    return TaskDefinition(
        name="tick",
        target=ShellTarget("true"),
        schedule="* * * * *",
        source=TaskSource.CONFIG,
        description=description,
        policies=Policies(overlap=OverlapPolicy.ALLOW),  # no worker here: jobs stay queued
    )


async def setup(store: SqlStore) -> tuple[FakeClock, Scheduler, Service]:
    clock = FakeClock(START)
    service = Service(Context(store, clock=clock, resolve=None)).as_actor(ANN)
    await service.sync_definitions([tick()], [TaskSource.CONFIG])
    settings = SchedulerSettings(misfire_grace_seconds=5, lookahead_seconds=0, processor_id="me")
    scheduler = Scheduler(store, settings, clock=clock)
    await scheduler.run_once()  # 12:00:30: nothing due yet
    return clock, scheduler, service


async def step_to(clock: FakeClock, scheduler: Scheduler, when: datetime) -> None:
    """Run the scheduler every 30 s of fake time up to ``when``, as its loop would."""
    while clock.now() < when:
        clock.advance(min(30.0, (when - clock.now()).total_seconds()))
        await scheduler.run_once()


async def scheduled(store: SqlStore) -> list[Job]:
    jobs = await store.query_jobs(JobQuery(task_name="tick", limit=100, oldest_first=True))
    return [j for j in jobs if j.triggered_by is TriggeredBy.SCHEDULER]


async def missed(store: SqlStore) -> list[MissedFire]:
    rows = await store.query_missed_fires(MissedFireQuery(limit=1000))
    return sorted(rows, key=lambda m: m.fire_at)


async def test_a_paused_job_does_not_fire_and_its_fires_are_missed_as_paused(
    store: SqlStore,
) -> None:
    clock, scheduler, service = await setup(store)
    task = await service.pause_task("tick", "database migration")
    assert task.pause is not None and task.pause.paused_by == "ann"
    assert task.pause.reason == "database migration" and task.pause.until is None
    await step_to(clock, scheduler, at(4, 30))
    assert await scheduled(store) == []  # 12:01 .. 12:04 did not fire
    # A paused job wakes no scheduler: nothing to do until it is resumed.
    assert await store.next_fire_time() is None
    # Triggering by hand still runs it.
    job_id = await service.trigger("tick")
    assert (await service.get_job(job_id)).state is JobState.AVAILABLE

    resumed = await service.resume_task("tick")
    assert resumed.pause is None and resumed.next_fire_at == at(5)
    rows = await missed(store)
    assert [r.fire_at for r in rows] == [at(1), at(2), at(3), at(4)]
    assert {r.reason for r in rows} == {MissedReason.PAUSED}
    assert rows[0].detail == "job paused by ann: database migration"
    assert rows[0].recorded_at == at(4, 30)
    # Not replayed: the schedule goes on from now.
    await step_to(clock, scheduler, at(5, 30))
    assert [j.fire_at for j in await scheduled(store)] == [at(5)]


async def test_a_pause_ends_by_itself_at_until_and_no_later_fire_is_lost(store: SqlStore) -> None:
    clock, scheduler, service = await setup(store)
    await service.pause_task("tick", "vendor outage", at(3))
    assert await store.next_fire_time() == at(3)  # the scheduler wakes at the end of the pause
    await step_to(clock, scheduler, at(2, 30))
    assert await scheduled(store) == []
    assert (await service.get_task("tick")).pause is not None
    await step_to(clock, scheduler, at(5, 0))
    # The fire at `until` itself runs, and each one after it.
    assert [j.fire_at for j in await scheduled(store)] == [at(3), at(4), at(5)]
    rows = await missed(store)
    assert [(r.fire_at, r.reason) for r in rows] == [
        (at(1), MissedReason.PAUSED),
        (at(2), MissedReason.PAUSED),
    ]
    assert rows[0].detail == "job paused by ann: vendor outage"
    # The scheduler cleared it in the store, not only in what the use cases show.
    stored = await store.get_task("tick")
    assert stored is not None and stored.pause is None


async def test_a_pause_over_while_the_scheduler_was_away_replays_nothing(store: SqlStore) -> None:
    clock, scheduler, service = await setup(store)
    await service.pause_task("tick", "maintenance", at(3))
    clock.set(at(3, 0))  # the scheduler's first look since the pause, right at its end
    await scheduler.run_once()
    assert [j.fire_at for j in await scheduled(store)] == [at(3)]
    assert [r.fire_at for r in await missed(store)] == [at(1), at(2)]
    assert (await store.get_task("tick")).pause is None  # type: ignore[union-attr]


async def test_an_expired_pause_reads_as_none_before_the_scheduler_clears_it(
    store: SqlStore,
) -> None:
    clock, _, service = await setup(store)
    await service.pause_task("tick", "short", at(0, 45))  # no fire falls into it
    clock.set(at(0, 50))
    assert (await service.get_task("tick")).pause is None
    assert [t.pause for t in await service.list_tasks()] == [None]
    assert (await service.resume_task("tick")).pause is None  # nothing to resume
    assert await service.audit_log(AuditQuery(action="job.resume")) == []


async def test_a_sync_keeps_the_pause(store: SqlStore) -> None:
    clock, scheduler, service = await setup(store)
    await service.pause_task("tick", "keep me paused")
    clock.advance(5)
    await service.sync_definitions([tick()], [TaskSource.CONFIG])  # unchanged
    await service.sync_definitions([tick("changed")], [TaskSource.CONFIG])  # changed
    task = await service.get_task("tick")
    assert task.definition.description == "changed"
    assert task.pause is not None and task.pause.reason == "keep me paused"
    await step_to(clock, scheduler, at(2, 10))
    assert await scheduled(store) == []


async def test_pausing_again_replaces_reason_and_end_but_not_the_start(store: SqlStore) -> None:
    clock, _, service = await setup(store)
    first = await service.pause_task("tick", "first")
    clock.advance(10)
    second = await service.pause_task("tick", "second", at(30))
    assert first.pause is not None and second.pause is not None
    assert second.pause.paused_at == first.pause.paused_at
    assert (second.pause.reason, second.pause.until) == ("second", at(30))


async def test_jobs_already_queued_are_not_affected(store: SqlStore) -> None:
    clock, scheduler, service = await setup(store)
    await step_to(clock, scheduler, at(1, 0))
    (queued,) = await scheduled(store)
    await service.pause_task("tick", "later ones only")
    assert (await service.get_job(queued.id)).state is JobState.AVAILABLE


@pytest.mark.parametrize(
    ("reason", "until", "field"),
    [
        ("", None, "reason"),
        ("   ", None, "reason"),
        ("x" * (MAX_PAUSE_REASON + 1), None, "reason"),
        ("ok", START, "until"),  # not in the future
        ("ok", START - timedelta(hours=1), "until"),
        ("ok", datetime(2026, 3, 2, 13, 0), "until"),  # no UTC offset
    ],
)
async def test_invalid_pauses_name_their_field(
    store: SqlStore, reason: str, until: datetime | None, field: str
) -> None:
    _, _, service = await setup(store)
    with pytest.raises(ConfigError) as info:
        await service.pause_task("tick", reason, until)
    assert info.value.field == field
    assert (await service.get_task("tick")).pause is None


async def test_a_reason_of_the_longest_length_is_taken(store: SqlStore) -> None:
    _, _, service = await setup(store)
    task = await service.pause_task("tick", "y" * MAX_PAUSE_REASON)
    assert task.pause is not None and len(task.pause.reason) == MAX_PAUSE_REASON


async def test_unknown_job(store: SqlStore) -> None:
    _, _, service = await setup(store)
    with pytest.raises(NotFoundError):
        await service.pause_task("nope", "why")
    with pytest.raises(NotFoundError):
        await service.resume_task("nope")


async def test_pause_and_resume_are_audited_with_reason_and_until(store: SqlStore) -> None:
    clock, _, service = await setup(store)
    await service.pause_task("tick", "deploy", at(30))
    clock.advance(60)
    await service.resume_task("tick")
    await service.resume_task("tick")  # not paused: nothing changes, nothing audited
    (pause,) = await service.audit_log(AuditQuery(action="job.pause"))
    (resume,) = await service.audit_log(AuditQuery(action="job.resume"))
    assert (pause.action, pause.actor, pause.target) == ("job.pause", "ann", "tick")
    assert pause.before is None
    assert pause.after == {"reason": "deploy", "until": at(30).isoformat(), "paused_by": "ann"}
    assert resume.action == "job.resume" and resume.before == pause.after
    assert resume.after is None


async def test_the_scheduler_wakes_for_the_later_of_until_and_the_stored_fire(
    store: SqlStore,
) -> None:
    _, _, service = await setup(store)
    await service.pause_task("tick", "brief", at(0, 45))  # ends before the 12:01 fire
    assert await store.next_fire_time() == at(1)
    await service.pause_task("tick", "longer", at(2, 30))
    assert await store.next_fire_time() == at(2, 30)


def test_a_pause_ending_within_the_lookahead_misses_only_the_fires_before_it() -> None:
    # The store hands out a task whose pause ends by the round's horizon (now + lookahead).
    schedule = parse_schedule("* * * * *", "UTC")
    pause = TaskPause(at(0, 0), "ann", "deploy", until=at(3))
    due = DueSchedule("tick", "* * * * *", "UTC", at(1), [], {}, 0, 1, pause=pause)
    fire = plan_fire(due, schedule.next_after, at(2, 59, 800_000), 5)
    assert fire.job is None and fire.next_fire_at == at(3)  # the next round creates it
    assert [(m.fire_at, m.reason) for m in fire.missed] == [
        (at(1), MissedReason.PAUSED),
        (at(2), MissedReason.PAUSED),
    ]
    # Once `until` has come, the fire at `until` is made in the same round.
    fire = plan_fire(due, schedule.next_after, at(3, 1), 5)
    assert fire.job is not None and fire.job.fire_at == at(3) and fire.next_fire_at == at(4)
    assert [m.fire_at for m in fire.missed] == [at(1), at(2)]


async def test_a_resume_of_a_pause_no_longer_stored_changes_nothing(store: SqlStore) -> None:
    # E.g. the scheduler ended it at its `until` between the use case's read and its write.
    clock, _, service = await setup(store)
    paused = await service.pause_task("tick", "first")
    assert paused.pause is not None
    clock.advance(90)
    stale = paused.pause.paused_at - timedelta(seconds=1)
    fires = [NewMissedFire("tick", at(1), MissedReason.PAUSED)]
    task = await store.resume_task("tick", stale, at(9), fires, clock.now())
    assert task is not None and task.pause == paused.pause and task.next_fire_at == at(1)
    assert await missed(store) == []
    # With the stored pause's start it ends.
    task = await store.resume_task("tick", paused.pause.paused_at, at(9), fires, clock.now())
    assert task is not None and task.pause is None and task.next_fire_at == at(9)
    assert [m.fire_at for m in await missed(store)] == [at(1)]
