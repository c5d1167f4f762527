"""Why a job did or did not run (``service/explain.py`` over ``domain/explain.py``), on a real
store of each backend: jobs, missed fires, audit entries and processors written through the
store, the clock a ``FakeClock``; one test per hold or skip reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.service.failing import fail_job
from tickwork.clock import FakeClock
from tickwork.domain.access import NewAuditEntry
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.explain import Outcome
from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.domain.limits import Policies
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import PythonTarget, TaskDefinition
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # the time asked about
# The task is defined after the window: its scheduler has passed every fire of it.
DEFINED = T0 + timedelta(hours=2)
WINDOW = 30 * 60.0  # fires 07:30 .. 08:30, every 10 minutes: 7 fires


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def define(store: SqlStore, policies: Policies | None = None, name: str = "report") -> None:
    defn = TaskDefinition(
        name=name,
        target=PythonTarget("json:dumps"),
        schedule="every 10m",
        policies=policies or Policies(),
    )
    await store.sync_tasks([defn], [], {name: DEFINED}, DEFINED)


def service(store: SqlStore, now: datetime) -> Service:
    return Service(Context(store, clock=FakeClock(now), resolve=None))


def fire_job(fire: datetime, key: str | None = None, name: str = "report") -> NewJob:
    return NewJob(name, fire, TriggeredBy.SCHEDULER, fire_at=fire, key=key)


async def audit(store: SqlStore, action: str, when: datetime, by: str, **after: object) -> None:
    await store.add_audit(
        NewAuditEntry(
            actor=by, action=action, target_type="job", target="report", at=when, after=after
        )
    )


async def answer_at(store: SqlStore, now: datetime, fire: datetime) -> tuple[Outcome, str]:
    found = await service(store, now).explain_job("report", T0, WINDOW)
    (f,) = [f for f in found.fires if f.fire_at == fire]
    return f.outcome, f.summary


async def test_the_window_lists_every_fire_and_nothing_recorded_is_said(store: SqlStore) -> None:
    await define(store)
    found = await service(store, at(60)).explain_job("report", T0, WINDOW)
    assert [f.fire_at for f in found.fires] == [at(m) for m in range(-30, 31, 10)]
    assert {f.outcome for f in found.fires} == {Outcome.UNRECORDED}
    assert "nothing was recorded" in found.fires[0].summary
    assert "no scheduler is registered" in found.fires[0].summary
    assert (found.start, found.end) == (at(-30), at(30))


async def test_disabled(store: SqlStore) -> None:
    await define(store)
    await audit(store, "job.disable", at(-45), "alice")
    await store.add_missed_fires(
        [NewMissedFire("report", at(-10), MissedReason.DISABLED, "job disabled")], at(50)
    )
    found = await service(store, at(60)).explain_job("report", T0, WINDOW)
    assert found.state == ("disabled since 2026-02-02 07:15:00 UTC by alice",)
    outcome, summary = await answer_at(store, at(60), at(-10))
    assert outcome is Outcome.MISSED
    assert summary.startswith("missed (disabled): the job was disabled at the time")


async def test_paused(store: SqlStore) -> None:
    await define(store)
    await audit(store, "job.pause", at(-15), "bob", reason="deploy", until=at(20).isoformat())
    await store.add_missed_fires(
        [NewMissedFire("report", at(0), MissedReason.PAUSED, "job paused by bob: deploy")],
        at(20),
    )
    found = await service(store, at(60)).explain_job("report", T0, WINDOW)
    assert found.state == (
        f"paused 2026-02-02 07:45:00 UTC by bob until {at(20).isoformat()}: deploy",
    )
    outcome, summary = await answer_at(store, at(60), at(0))
    assert outcome is Outcome.MISSED and "paused" in summary and "deploy" in summary


async def test_calendar(store: SqlStore) -> None:
    await define(store)
    await store.add_missed_fires(
        [NewMissedFire("report", at(10), MissedReason.CALENDAR, "closed until 09:00")], at(10)
    )
    # The fire before it waits for the calendar's opening: not due until then.
    await store.enqueue([NewJob("report", at(60), TriggeredBy.SCHEDULER, fire_at=at(0))], at(0))
    outcome, summary = await answer_at(store, at(20), at(10))
    assert outcome is Outcome.MISSED
    assert "calendar was closed" in summary and "closed until 09:00" in summary
    outcome, summary = await answer_at(store, at(20), at(0))
    assert outcome is Outcome.PENDING
    assert summary.endswith("until 2026-02-02 09:00:00 UTC")


async def test_overlap(store: SqlStore) -> None:
    await define(store)
    skipped = NewJob(
        "report",
        at(-20),
        TriggeredBy.SCHEDULER,
        fire_at=at(-20),
        skip_reason="overlap=skip: job 1 still running",
    )
    await store.enqueue([skipped], at(-20))
    await store.add_missed_fires(
        [NewMissedFire("report", at(-20), MissedReason.OVERLAP, "job 1", skipped_job=True)],
        at(-20),
    )
    outcome, summary = await answer_at(store, at(60), at(-20))
    assert outcome is Outcome.SKIPPED
    assert summary == "skipped: overlap=skip: job 1 still running"


async def test_misfire(store: SqlStore) -> None:
    await define(store)
    await store.add_missed_fires(
        [NewMissedFire("report", at(20), MissedReason.MISFIRE, "fired 5 min late")], at(25)
    )
    outcome, summary = await answer_at(store, at(60), at(20))
    assert outcome is Outcome.MISSED
    assert "misfire_grace" in summary and "fired 5 min late" in summary


async def test_no_scheduler(store: SqlStore) -> None:
    await define(store)
    await store.add_missed_fires(
        [NewMissedFire("report", at(-30), MissedReason.NO_SCHEDULER, "down")], at(5)
    )
    # A scheduler that was up from 07:55 on: before it, nobody; after, it recorded nothing.
    await store.heartbeat(
        ProcessorInfo("sched-1", "scheduler+worker", "h", 1, "1", at(-5), at(25), None)
    )
    answers = {
        f.fire_at: f for f in (await service(store, at(60)).explain_job("report", T0, WINDOW)).fires
    }
    assert answers[at(-30)].outcome is Outcome.MISSED
    assert "no scheduler was up" in answers[at(-30)].summary
    assert answers[at(-20)].outcome is Outcome.UNRECORDED
    assert "no registered scheduler's heartbeats cover that time" in answers[at(-20)].summary
    assert answers[at(0)].outcome is Outcome.UNRECORDED
    assert "schedulers registered as up then: sched-1" in answers[at(0)].summary


async def test_limit_held(store: SqlStore) -> None:
    await define(store, Policies(key_limit=1))
    await store.enqueue([NewJob("report", at(-1), TriggeredBy.API, key="k")], at(-1))
    (running,) = await store.claim("w", 1, at(-1), 600)
    await store.enqueue([fire_job(at(0), key="k")], at(0))
    outcome, summary = await answer_at(store, at(5), at(0))
    assert outcome is Outcome.PENDING
    assert "key_limit" in summary
    assert running.state is JobState.RUNNING


async def test_cooldown(store: SqlStore) -> None:
    await define(store, Policies(cooldown_seconds=600))
    await store.enqueue([fire_job(at(-10))], at(-10))
    (first,) = await store.claim("w", 1, at(-8), 600)
    await store.enqueue([fire_job(at(0))], at(0))
    outcome, summary = await answer_at(store, at(1), at(0))
    assert outcome is Outcome.PENDING
    assert "cooldown" in summary and "until 2026-02-02 08:02:00 UTC" in summary
    outcome, summary = await answer_at(store, at(1), at(-10))
    assert outcome is Outcome.RUNNING and "on w" in summary and first.id


async def test_ran_upcoming_and_changes(store: SqlStore) -> None:
    await define(store)
    job_id, _ = await fail_job(store, "report", "boom", at(-20))
    # fail_job's job is an API job: a schedule fire of another schedule is shown as recorded.
    (fired,) = await store.enqueue([fire_job(at(-15))], at(-15))
    await store.cancel_job(fired, at(-14), "not wanted")
    await audit(store, "job.update", at(-16), "carol")
    await audit(store, "job.auto_reschedule", at(-12), "tickwork", rule="stretch")
    found = await service(store, at(5)).explain_job("report", T0, WINDOW)
    by_time = {f.fire_at: f for f in found.fires}
    assert by_time[at(-15)].outcome is Outcome.RAN and not by_time[at(-15)].scheduled
    assert by_time[at(-15)].summary.startswith("ran: cancelled")
    assert by_time[at(10)].outcome is Outcome.UPCOMING
    assert [c.summary for c in found.changes] == [
        "update by carol",
        "auto reschedule by tickwork (rule stretch)",
    ]
    assert job_id


async def test_bad_input_is_named(store: SqlStore) -> None:
    await define(store)
    svc = service(store, at(0))
    with pytest.raises(NotFoundError):
        await svc.explain_job("nope")
    with pytest.raises(ConfigError) as error:
        await svc.explain_job("report", datetime(2026, 2, 2, 8, 0))
    assert error.value.field == "at"
    with pytest.raises(ConfigError) as error:
        await svc.explain_job("report", None, 0)
    assert error.value.field == "window"
