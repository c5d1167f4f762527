"""Backfills (``service/backfills.py``) on a real store of each backend: exactly the fires of a
range, once (also when run twice, and not for fires that already have a job), the cap, the
queue's one-at-a-time release, cancel as a whole, timezones over daylight-saving changes, and
bad input named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import AuditQuery, Principal, Role, Scope
from tickwork.domain.backfills import HELD_UNTIL
from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Outcome, TriggeredBy
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.queries import JobQuery
from tickwork.store import SqlStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ADA = Principal(
    name="ada", scopes=frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER}), role=Role.OPERATOR
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store, clock=FakeClock(NOW), resolve=None))
    defs = [
        TaskDefinition(name="hourly", target=ShellTarget("true"), schedule="0 * * * *", priority=3),
        TaskDefinition(
            name="berlin",
            target=ShellTarget("true"),
            schedule="0 3 * * *",
            timezone="Europe/Berlin",
        ),
        TaskDefinition(
            name="berlin-230",
            target=ShellTarget("true"),
            schedule="30 2 * * *",
            timezone="Europe/Berlin",
        ),
        TaskDefinition(name="adhoc", target=ShellTarget("true")),
    ]
    await svc.sync_definitions(
        [TaskDefinition(**{**d.__dict__, "source": TaskSource.CONFIG}) for d in defs],
        [TaskSource.CONFIG],
    )
    return svc.as_actor(ADA)


async def jobs_of(store: SqlStore, task: str) -> list[Job]:
    found = await store.query_jobs(JobQuery(task_name=task, limit=1000))
    return sorted(found, key=lambda j: (j.fire_at or HELD_UNTIL, j.id))


async def test_exactly_the_fires_of_the_range_once(service: Service, store: SqlStore) -> None:
    # 06:00 and 10:00 are both included; the fire at 07:00 already ran on schedule.
    (scheduled,) = await store.enqueue(
        [
            NewJob(
                "hourly",
                utc("2026-11-30T07:00"),
                TriggeredBy.SCHEDULER,
                fire_at=utc("2026-11-30T07:00"),
            )
        ],
        utc("2026-11-30T07:00"),
    )
    start, end = utc("2026-11-30T06:00"), utc("2026-11-30T10:00")
    dry = await service.backfill("hourly", start, end, dry_run=True, overlap="allow")
    assert (dry.dry_run, len(dry.fires), dry.created, dry.present) == (True, 5, 4, 1)
    assert dry.backfill is None and len(await jobs_of(store, "hourly")) == 1

    first = await service.backfill("hourly", start, end, overlap="allow")
    assert (first.created, first.present) == (4, 1) and first.backfill is not None
    jobs = await jobs_of(store, "hourly")
    assert [j.fire_at for j in jobs] == [start + timedelta(hours=h) for h in range(5)]
    made = [j for j in jobs if j.id != scheduled]
    assert {(j.triggered_by, j.backfill_id, j.requested_by) for j in made} == {
        (TriggeredBy.BACKFILL, first.backfill.id, "ada")
    }
    # allow: all due at once, at the definition's priority.
    assert {(j.state, j.scheduled_at, j.priority) for j in made} == {(JobState.AVAILABLE, NOW, 3)}
    assert first.backfill.counts.pending == 4 and first.backfill.state == "running"

    # Run again, and over a wider range: only the new fire is created.
    again = await service.backfill("hourly", start, end)
    assert (again.created, again.present, again.backfill) == (0, 5, None)
    wider = await service.backfill("hourly", start, end + timedelta(hours=1))
    assert (wider.created, wider.present) == (1, 5)
    assert len(await jobs_of(store, "hourly")) == 6
    listed = await service.list_backfills("hourly")
    assert [b.id for b in listed] == [wider.backfill.id, first.backfill.id]  # type: ignore[union-attr]

    entries = await store.query_audit(AuditQuery(action="job.backfill"))
    assert [(e.actor, e.target, e.after["created"], e.after["present"]) for e in entries] == [
        ("ada", "hourly", 1, 5),
        ("ada", "hourly", 0, 5),
        ("ada", "hourly", 4, 1),
    ]


async def test_the_cap(service: Service, store: SqlStore) -> None:
    start = utc("2026-11-01T00:00")
    # 2026-11-01 00:00 .. 2026-11-02 00:00 holds 25 hourly fires.
    end = utc("2026-11-02T00:00")
    with pytest.raises(ConfigError) as refused:
        await service.backfill("hourly", start, end, max_fires=24)
    assert refused.value.field == "max" and "holds 25 fires" in str(refused.value)
    assert await jobs_of(store, "hourly") == []
    made = await service.backfill("hourly", start, end, max_fires=25)
    assert made.created == 25
    # The default cap (1,000) and the ceiling (10,000).
    with pytest.raises(ConfigError, match="holds 1,465 fires"):
        await service.backfill("hourly", utc("2026-09-01T00:00"), utc("2026-11-01T00:00"))
    with pytest.raises(ConfigError) as ceiling:
        await service.backfill("hourly", start, end, max_fires=10_001)
    assert ceiling.value.field == "max"


async def finish(store: SqlStore, job: Job, state: JobState = JobState.SUCCEEDED) -> None:
    outcome = Outcome.success() if state is JobState.SUCCEEDED else Outcome.failure("E", "no")
    await store.complete(
        [
            Completion(
                job_id=job.id,
                task_name=job.task_name,
                attempt=job.attempt,
                triggered_by=job.triggered_by,
                worker_id="w",
                started_at=NOW,
                finished_at=NOW + timedelta(seconds=1),
                outcome=outcome,
                next_state=state,
            )
        ]
    )


async def test_queue_releases_one_at_a_time_in_fire_order(
    service: Service, store: SqlStore
) -> None:
    made = await service.backfill("hourly", utc("2026-11-30T01:00"), utc("2026-11-30T03:00"))
    assert made.backfill is not None and made.backfill.overlap.value == "queue"
    jobs = await jobs_of(store, "hourly")
    assert [(j.state, j.scheduled_at) for j in jobs] == [
        (JobState.AVAILABLE, NOW),
        (JobState.SCHEDULED, HELD_UNTIL),
        (JobState.SCHEDULED, HELD_UNTIL),
    ]
    hold = await service.explain(jobs[1].id)
    assert hold is not None and hold.policy == "backfill" and "its turn" in hold.detail
    # Nothing more while the first one is due or running.
    assert await store.release_backfills(NOW) == 0
    (claimed,) = await store.claim("w", 10, NOW, 60)
    assert claimed.fire_at == utc("2026-11-30T01:00")
    assert await store.release_backfills(NOW) == 0
    await finish(store, claimed, JobState.FAILED)
    later = NOW + timedelta(seconds=5)
    assert await store.release_backfills(later) == 1
    second = (await jobs_of(store, "hourly"))[1]
    assert (second.state, second.scheduled_at) == (JobState.AVAILABLE, later)
    (claimed,) = await store.claim("w", 10, later, 60)
    await finish(store, claimed)
    assert await store.release_backfills(later) == 1
    (claimed,) = await store.claim("w", 10, later, 60)
    await finish(store, claimed)
    assert await store.release_backfills(later) == 0  # closed: none held
    done = await service.get_backfill(made.backfill.id)
    assert done.state == "done"
    assert (done.counts.succeeded, done.counts.failed, done.counts.pending) == (2, 1, 0)


async def test_cancel_as_a_whole(service: Service, store: SqlStore) -> None:
    made = await service.backfill(
        "hourly", utc("2026-11-30T01:00"), utc("2026-11-30T04:00"), overlap="allow"
    )
    assert made.backfill is not None
    running, *_ = await store.claim("w", 1, NOW, 60)
    backfill, cancelled = await service.cancel_backfill(made.backfill.id)
    assert cancelled == 3
    assert backfill.state == "cancelled" and backfill.cancelled_by == "ada"
    assert (backfill.counts.cancelled, backfill.counts.running) == (3, 1)
    states = {j.id: j.state for j in await jobs_of(store, "hourly")}
    assert states.pop(running.id) is JobState.RUNNING  # left to finish
    assert set(states.values()) == {JobState.CANCELLED}
    with pytest.raises(InvalidStateError, match="cancelled already"):
        await service.cancel_backfill(made.backfill.id)
    with pytest.raises(NotFoundError):
        await service.cancel_backfill(made.backfill.id + 100)
    (entry,) = await store.query_audit(AuditQuery(action="backfill.cancel"))
    assert (entry.actor, entry.target, entry.after["cancelled_jobs"]) == (
        "ada",
        str(made.backfill.id),
        3,
    )
    # A queue backfill cancelled: its held jobs are cancelled and nothing is released.
    queued = await service.backfill("hourly", utc("2026-11-29T01:00"), utc("2026-11-29T03:00"))
    assert queued.backfill is not None
    _, cancelled = await service.cancel_backfill(queued.backfill.id)
    assert cancelled == 3 and await store.release_backfills(NOW) == 0


async def test_europe_berlin_daily_over_dst_changes(service: Service) -> None:
    # Clocks go back on 2026-10-25 (03:00 CEST is 01:00 UTC before, 02:00 UTC after).
    autumn = await service.backfill(
        "berlin", utc("2026-10-23T00:00"), utc("2026-10-27T23:59"), dry_run=True
    )
    assert autumn.fires == (
        utc("2026-10-23T01:00"),
        utc("2026-10-24T01:00"),
        utc("2026-10-25T02:00"),
        utc("2026-10-26T02:00"),
        utc("2026-10-27T02:00"),
    )
    # Clocks go forward on 2026-03-29: 02:30 does not exist that day; Debian cron runs a
    # fixed-time job once, at 03:00 CEST (01:00 UTC), as the scheduler does.
    spring = await service.backfill(
        "berlin-230", utc("2026-03-28T00:00"), utc("2026-03-30T23:59"), dry_run=True
    )
    assert spring.fires == (
        utc("2026-03-28T01:30"),
        utc("2026-03-29T01:00"),
        utc("2026-03-30T00:30"),
    )


async def test_bad_input_is_named(service: Service) -> None:
    start, end = utc("2026-11-30T01:00"), utc("2026-11-30T04:00")
    with pytest.raises(NotFoundError, match="no job named 'nope'"):
        await service.backfill("nope", start, end)
    with pytest.raises(ConfigError) as no_schedule:
        await service.backfill("adhoc", start, end)
    assert no_schedule.value.field == "schedule" and no_schedule.value.job == "adhoc"
    cases = [
        ((end, start), {}, "from"),
        ((start, NOW + timedelta(hours=1)), {}, "to"),
        ((start, datetime(2026, 11, 30, 5)), {}, "to"),  # no UTC offset
        ((start, end), {"overlap": "skip"}, "overlap"),
        ((start, end), {"overlap": "sometimes"}, "overlap"),
        ((start, end), {"max_fires": 0}, "max"),
    ]
    for (a, b), options, field in cases:
        with pytest.raises(ConfigError) as exc:
            await service.backfill("hourly", a, b, **options)  # type: ignore[arg-type]
        assert exc.value.field == field, (options, exc.value)
