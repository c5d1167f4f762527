"""The Store contract (``tickwork.store.base.Store`` docstrings), on SQLite and on PostgreSQL.

Every test runs on both backends through the ``store`` fixture. Time never comes from the wall
clock: every ``now`` is an explicit aware-UTC datetime built from ``T0``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.store.probes import due_names, due_schedules
from tickwork.domain.jobs import (
    Completion,
    ErrorClass,
    Job,
    JobState,
    NewJob,
    Outcome,
    Run,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.queries import DueSchedule, Fire, JobQuery, ProcessorInfo, RunQuery
from tickwork.domain.tasks import (
    HttpTarget,
    PythonTarget,
    RetryPolicy,
    ShellTarget,
    TaskDefinition,
    TaskSource,
)
from tickwork.errors import InvalidStateError, StoreError
from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations

# Odd microseconds on purpose: timestamps must round-trip exactly on both backends.
T0 = datetime(2024, 5, 17, 12, 0, 0, 123457, tzinfo=UTC)
LEASE = 30.0
ALL_SOURCES = (TaskSource.CODE, TaskSource.CONFIG, TaskSource.API)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def is_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


def task(name: str, schedule: str | None = "* * * * *", **kw: Any) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=PythonTarget(f"pkg.mod:{name}"), schedule=schedule, **kw
    )


def job(task_name: str = "t", scheduled_at: datetime = T0, **kw: Any) -> NewJob:
    kw.setdefault("triggered_by", TriggeredBy.API)
    return NewJob(task_name=task_name, scheduled_at=scheduled_at, **kw)


def completion(
    j: Job,
    outcome: Outcome,
    next_state: JobState,
    finished_at: datetime,
    retry_at: datetime | None = None,
) -> Completion:
    assert j.started_at is not None
    return Completion(
        job_id=j.id,
        task_name=j.task_name,
        attempt=j.attempt,
        triggered_by=j.run_triggered_by,
        worker_id=j.worker_id,
        started_at=j.started_at,
        finished_at=finished_at,
        outcome=outcome,
        next_state=next_state,
        retry_at=retry_at,
    )


async def sync(
    store: SqlStore,
    defs: Sequence[TaskDefinition],
    now: datetime,
    next_fires: dict[str, datetime | None] | None = None,
    sources: Sequence[TaskSource] = (TaskSource.CODE,),
) -> Any:
    fires = next_fires if next_fires is not None else {d.name: now for d in defs}
    return await store.sync_tasks(defs, sources, fires, now)


async def get_job(store: SqlStore, job_id: int) -> Job:
    found = await store.get_job(job_id)
    assert found is not None
    return found


async def claim_one(store: SqlStore, worker: str, now: datetime) -> Job:
    claimed = await store.claim(worker, 1, now, LEASE)
    assert len(claimed) == 1
    return claimed[0]


# --- open / close / watch --------------------------------------------------------------------


async def test_open_does_not_create_schema(empty_db_url: str) -> None:
    s = create_store(empty_db_url)
    await s.open()
    try:
        assert not migrations.has_tables(s.engine)
        assert s.dialect in ("sqlite", "postgresql")
    finally:
        await s.close()
        await s.close()  # safe to call twice


async def test_watch_returns_closeable(store: SqlStore, db_url: str) -> None:
    changed = threading.Event()
    watcher = store.watch(changed.set)
    try:
        if store.dialect != "sqlite":
            return  # "or never if the backend cannot tell"
        other = create_store(db_url)
        try:
            # The watcher may start after the first commit: commit until it notices (bounded).
            for i in range(100):
                await other.enqueue([job(key=str(i))], T0)
                if changed.wait(0.05):
                    break
        finally:
            await other.close()
        assert changed.is_set()
    finally:
        watcher.close()


# --- tasks -----------------------------------------------------------------------------------


async def test_sync_creates_tasks(store: SqlStore) -> None:
    report = await sync(store, [task("a"), task("b")], at(0), {"a": at(60), "b": None})
    assert sorted(report.created) == ["a", "b"]
    assert (report.updated, report.removed, report.unchanged) == ([], [], [])
    a = await store.get_task("a")
    assert a is not None
    assert a.name == "a" and a.definition == task("a")
    assert a.removed is False
    assert a.next_fire_at == at(60) and is_utc(a.next_fire_at)
    assert a.last_fire_at is None
    assert a.created_at == at(0) and a.updated_at == at(0)
    assert is_utc(a.created_at) and is_utc(a.updated_at)
    b = await store.get_task("b")
    assert b is not None and b.next_fire_at is None
    assert await store.get_task("missing") is None


ROUND_TRIP = [
    TaskDefinition(
        name="py.full:task-1",
        target=PythonTarget("pkg.sub.mod:func"),
        schedule="*/5 9-17 * * mon-fri",
        timezone="Europe/Paris",
        timeout_seconds=12.345,
        retry=RetryPolicy(
            max_retries=3, base_seconds=0.5, factor=3.0, cap_seconds=30.25, jitter=False
        ),
        enabled=False,
        description="Does «everything» – unicode ✓",
        priority=-7,
        tags=("nightly", "billing"),
        args=(1, "two", 3.5, None, True, [4, {"five": 5}]),
        kwargs={"a": 1, "nested": {"list": [1, 2, {"x": None}], "s": "é"}, "f": 0.1},
        source=TaskSource.CONFIG,
    ),
    TaskDefinition(name="py-min", target=PythonTarget("m:f")),
    TaskDefinition(
        name="http-full",
        target=HttpTarget(
            url="https://example.com/hook?x=1&y=%20",
            method="POST",
            headers={"Authorization": "Bearer abc", "X-Tick": "1"},
            json={"event": "tick", "items": [1, 2.5, None, {"deep": [True, False]}]},
            expected_statuses=(200, 202, 409),
        ),
        schedule="@hourly",
        source=TaskSource.API,
        priority=5,
    ),
    TaskDefinition(
        name="http-body",
        target=HttpTarget(url="http://localhost/", method="PUT", body="raw body\nline 2"),
    ),
    TaskDefinition(name="http-min", target=HttpTarget(url="http://localhost/")),
    TaskDefinition(
        name="shell-full",
        target=ShellTarget(
            command='echo "$GREETING" | tr a-z A-Z && exit 3',
            cwd="/tmp/some dir",
            env={"GREETING": "hi there", "EMPTY": ""},
        ),
        timeout_seconds=1.5,
        tags=("ops",),
    ),
    TaskDefinition(name="shell-min", target=ShellTarget(command="true")),
]


async def test_task_round_trip_every_field_and_target_kind(store: SqlStore) -> None:
    report = await sync(store, ROUND_TRIP, at(0), sources=ALL_SOURCES)
    assert sorted(report.created) == sorted(d.name for d in ROUND_TRIP)
    for defn in ROUND_TRIP:
        stored = await store.get_task(defn.name)
        assert stored is not None
        assert stored.definition == defn
        assert type(stored.definition.target) is type(defn.target)
        assert stored.definition.kind == defn.kind
    listed = {t.name: t.definition for t in await store.list_tasks()}
    assert listed == {d.name: d for d in ROUND_TRIP}
    # What was read back compares equal to what is given again: nothing changed.
    again = await sync(store, ROUND_TRIP, at(1), sources=ALL_SOURCES)
    assert sorted(again.unchanged) == sorted(d.name for d in ROUND_TRIP)
    assert (again.created, again.updated, again.removed) == ([], [], [])


async def test_sync_unchanged_updated_and_schedule_changes(store: SqlStore) -> None:
    names = ["same", "described", "rescheduled", "rezoned", "unscheduled"]
    await sync(store, [task(n) for n in names], at(0), {n: at(60) for n in names})
    [job_id] = await store.enqueue([job("described")], at(0))
    j = await claim_one(store, "w", at(1))
    await store.complete([completion(j, Outcome.success(1), JobState.SUCCEEDED, at(2))])

    new = {
        "same": task("same"),
        "described": task("described", description="new", priority=3, timeout_seconds=9.0),
        "rescheduled": task("rescheduled", schedule="*/2 * * * *"),
        "rezoned": task("rezoned", timezone="America/New_York"),
        "unscheduled": task("unscheduled", schedule=None),
    }
    next_fires: dict[str, datetime | None] = {
        "same": at(999),
        "described": at(999),
        "rescheduled": at(120),
        "rezoned": at(130),
        "unscheduled": None,
    }
    report = await sync(store, list(new.values()), at(5), next_fires)
    assert report.unchanged == ["same"]
    assert sorted(report.updated) == ["described", "rescheduled", "rezoned", "unscheduled"]
    assert (report.created, report.removed) == ([], [])
    stored = {t.name: t for t in await store.list_tasks()}
    assert {n: t.definition for n, t in stored.items()} == new
    # Unchanged schedules keep their stored next fire; new or changed ones take the given one.
    assert {n: t.next_fire_at for n, t in stored.items()} == {
        "same": at(60),
        "described": at(60),
        "rescheduled": at(120),
        "rezoned": at(130),
        "unscheduled": None,
    }
    assert stored["same"].updated_at == at(0)
    assert all(t.created_at == at(0) for t in stored.values())
    assert all(stored[n].updated_at == at(5) for n in report.updated)
    # An update leaves the run history alone.
    assert [x.id for x in await store.query_jobs(JobQuery(task_name="described"))] == [job_id]
    assert [
        r.job_id for r in await store.query_runs(RunQuery(task_name="described", sort="id"))
    ] == [job_id]


async def test_sync_removes_only_absent_tasks_of_given_sources(store: SqlStore) -> None:
    defs = [
        task("a"),
        task("b"),
        task("c", source=TaskSource.CONFIG),
        task("d", source=TaskSource.API),
    ]
    await sync(store, defs, at(0), {n: at(60) for n in "abcd"}, sources=ALL_SOURCES)
    [b_job] = await store.enqueue([job("b")], at(0))
    jb = await claim_one(store, "w", at(1))
    await store.complete([completion(jb, Outcome.success(), JobState.SUCCEEDED, at(2))])

    report = await sync(store, [task("a")], at(10), {"a": at(60)}, sources=[TaskSource.CODE])
    assert report.removed == ["b"]
    assert report.unchanged == ["a"]
    assert (report.created, report.updated) == ([], [])

    b = await store.get_task("b")
    assert b is not None and b.removed is True and b.next_fire_at is None
    for other in ("a", "c", "d"):
        t = await store.get_task(other)
        assert t is not None and t.removed is False and t.next_fire_at == at(60)
    # The removed task stops firing but keeps its jobs and runs.
    assert await due_names(store, at(60)) == ["a", "c", "d"]
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="b"))] == [b_job]
    assert [r.job_id for r in await store.query_runs(RunQuery(task_name="b", sort="id"))] == [b_job]
    assert {t.name for t in await store.list_tasks()} == {"a", "b", "c", "d"}
    assert {t.name for t in await store.list_tasks(include_removed=False)} == {"a", "c", "d"}

    # Already removed: a second sync changes nothing.
    again = await sync(store, [task("a")], at(20), {"a": at(60)}, sources=[TaskSource.CODE])
    assert again.removed == [] and again.unchanged == ["a"]

    # A sync of CONFIG only removes the CONFIG task.
    report = await sync(store, [], at(30), {}, sources=[TaskSource.CONFIG])
    assert report.removed == ["c"]
    d = await store.get_task("d")
    assert d is not None and not d.removed


async def test_removed_task_that_reappears_is_restored(store: SqlStore) -> None:
    await sync(store, [task("a"), task("b")], at(0), {"a": at(60), "b": at(60)})
    [b_job] = await store.enqueue([job("b")], at(0))
    await sync(store, [task("a")], at(10), {"a": at(60)})
    report = await sync(store, [task("a"), task("b")], at(20), {"a": at(999), "b": at(80)})
    assert "b" in report.created + report.updated
    assert "b" not in report.removed + report.unchanged
    assert report.unchanged == ["a"]
    b = await store.get_task("b")
    assert b is not None
    assert b.removed is False and b.next_fire_at == at(80)
    assert b.definition == task("b")
    assert await due_names(store, at(80)) == ["a", "b"]
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="b"))] == [b_job]


async def test_set_task_enabled(store: SqlStore) -> None:
    await sync(store, [task("a")], at(0), {"a": at(60)})
    off = await store.set_task_enabled("a", False, None, at(5))
    assert off is not None
    assert off.definition.enabled is False and off.next_fire_at is None
    assert off.updated_at == at(5)
    assert await due_names(store, at(1000)) == []
    assert await store.next_fire_time() is None

    on = await store.set_task_enabled("a", True, at(90), at(6))
    assert on is not None
    assert on.definition.enabled is True and on.next_fire_at == at(90)
    assert on.updated_at == at(6)
    assert on == await store.get_task("a")
    assert await store.next_fire_time() == at(90)

    assert await store.set_task_enabled("missing", True, at(1), at(7)) is None
    assert await store.get_task("missing") is None


# --- scheduling ------------------------------------------------------------------------------


async def test_due_schedules_order_and_filter(store: SqlStore) -> None:
    assert await due_names(store, at(0)) == []
    assert await store.next_fire_time() is None
    defs = [
        task("late"),
        task("early"),
        task("middle"),
        task("future"),
        task("disabled", enabled=False),
        task("no-schedule", schedule=None),
        task("gone"),
    ]
    fires: dict[str, datetime | None] = {
        "late": at(30),
        "early": at(10),
        "middle": at(20),
        "future": at(30.000001),
        "disabled": at(1),
        "no-schedule": None,
        "gone": at(1),
    }
    await sync(store, defs, at(0), fires)
    await sync(store, [d for d in defs if d.name != "gone"], at(0), fires)
    # Even with a next fire time, a removed task is not due.
    await store.set_task_enabled("gone", True, at(1), at(0))

    due = await due_schedules(store, at(30))
    assert [d.task_name for d in due] == ["early", "middle", "late"]  # next_fire_at <= now
    assert [d.next_fire_at for d in due] == [at(10), at(20), at(30)]
    assert await due_names(store, at(30), 2) == ["early", "middle"]
    assert await due_names(store, at(9.999999)) == []
    assert await store.next_fire_time() == at(10)


def firing(*fires: Fire) -> Any:
    """A planner that makes these fires, by task (the schedules must be due)."""
    by_task = {f.task_name: f for f in fires}

    def plan(due: DueSchedule) -> Fire:
        fire = by_task[due.task_name]
        assert fire.previous_next_fire_at == due.next_fire_at
        return fire

    return plan


async def test_fire_due_creates_job_and_advances_schedule(store: SqlStore) -> None:
    await sync(store, [task("a"), task("b"), task("c")], at(0), {n: at(60) for n in "abc"})
    fires = [
        Fire(
            "a",
            at(60),
            at(120),
            job(
                "a",
                at(60),
                triggered_by=TriggeredBy.SCHEDULER,
                fire_at=at(60),
                max_attempts=3,
                priority=2,
            ),
        ),
        Fire(
            "b",
            at(60),
            at(180),
            job("b", at(60), triggered_by=TriggeredBy.SCHEDULER, fire_at=at(60)),
        ),
        # Skipped (e.g. a misfire): no job, but the schedule still advances.
        Fire("c", at(60), at(240), None),
    ]
    handled, ids = await store.fire_due(at(60.5), 10, firing(*fires))
    assert handled == 3
    assert len(ids) == 2
    ja, jb = [await get_job(store, i) for i in ids]
    assert (ja.task_name, jb.task_name) == ("a", "b")
    assert ja.fire_at == at(60) and ja.scheduled_at == at(60)
    assert ja.state is JobState.AVAILABLE
    assert ja.triggered_by is TriggeredBy.SCHEDULER
    assert ja.max_attempts == 3 and ja.priority == 2 and ja.attempt == 0
    assert ja.created_at == at(60.5)
    assert await store.query_jobs(JobQuery(task_name="c")) == []
    stored = {t.name: t for t in await store.list_tasks()}
    assert {n: t.next_fire_at for n, t in stored.items()} == {
        "a": at(120),
        "b": at(180),
        "c": at(240),
    }
    assert stored["a"].last_fire_at == at(60)
    assert await store.next_fire_time() == at(120)
    assert await due_names(store, at(120)) == ["a"]
    # A last fire (no next one) stops the schedule.
    assert await store.fire_due(at(300), 1, firing(Fire("a", at(120), None, None))) == (1, [])
    assert await store.next_fire_time() == at(180)
    assert await due_names(store, at(200)) == ["b"]


async def test_fire_due_ignores_fired_schedules_and_duplicates(store: SqlStore) -> None:
    await sync(store, [task("a")], at(0), {"a": at(60)})
    fire = Fire("a", at(60), at(120), job("a", at(60), fire_at=at(60)))
    _, [first] = await store.fire_due(at(60), 10, firing(fire))
    # A second scheduler that comes later finds the schedule fired: nothing is due.
    late = Fire("a", at(60), at(999), job("a", at(61), fire_at=at(61)))
    assert await store.fire_due(at(61), 10, firing(late)) == (0, [])
    a = await store.get_task("a")
    assert a is not None and a.next_fire_at == at(120)
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="a"))] == [first]
    # The same fire's job twice in one call: one job.
    fire_job = job("a", at(120), fire_at=at(120))
    twice = Fire("a", at(120), at(180), fire_job, extra_jobs=(fire_job,))
    _, [second] = await store.fire_due(at(120), 10, firing(twice))
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="a"))] == [second, first]
    # The schedule is set back (e.g. by a re-enable), so an old fire comes due again: its job
    # already exists and is not created twice.
    await store.set_task_enabled("a", True, at(60), at(121))
    assert await store.fire_due(at(122), 10, firing(fire)) == (1, [])
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="a"))] == [second, first]
    a = await store.get_task("a")
    assert a is not None and a.next_fire_at == at(120)
    # Unknown tasks never come due.
    ghost = Fire("ghost", at(0), at(60), job("ghost", at(0), fire_at=at(0)))
    assert await store.fire_due(at(0), 10, firing(ghost)) == (0, [])
    assert await store.query_jobs(JobQuery(task_name="ghost")) == []


async def test_fire_due_concurrently_from_two_stores(store: SqlStore, db_url: str) -> None:
    await sync(store, [task("a")], at(0), {"a": at(60)})
    other = create_store(db_url)
    try:
        fire = Fire("a", at(60), at(120), job("a", at(60), fire_at=at(60)))
        results = await asyncio.gather(
            store.fire_due(at(60), 10, firing(fire)), other.fire_due(at(60), 10, firing(fire))
        )
    finally:
        await other.close()
    assert sorted(len(ids) for _, ids in results) == [0, 1]
    assert len(await store.query_jobs(JobQuery(task_name="a"))) == 1


# --- jobs ------------------------------------------------------------------------------------


async def test_enqueue_round_trip_and_state_by_time(store: SqlStore) -> None:
    assert await store.enqueue([], at(0)) == []
    new = [
        job(
            "a",
            at(-5),
            triggered_by=TriggeredBy.MANUAL,
            max_attempts=4,
            args=[1, "x", None, [2.5]],
            kwargs={"k": {"n": [True]}},
            priority=9,
            key="k-1",
            unique_key="u-1",
            fire_at=at(-5),
        ),
        job("b", at(10)),  # in the future: scheduled
        job("c", at(0)),  # exactly now: available
    ]
    ids = await store.enqueue(new, at(0))
    assert len(ids) == 3 and ids == sorted(ids) and len(set(ids)) == 3
    a, b, c = [await get_job(store, i) for i in ids]
    assert a == Job(
        id=ids[0],
        task_name="a",
        state=JobState.AVAILABLE,
        args=[1, "x", None, [2.5]],
        kwargs={"k": {"n": [True]}},
        priority=9,
        key="k-1",
        unique_key="u-1",
        scheduled_at=at(-5),
        attempt=0,
        max_attempts=4,
        triggered_by=TriggeredBy.MANUAL,
        fire_at=at(-5),
        created_at=at(0),
        started_at=None,
        finished_at=None,
        worker_id=None,
        lease_expires_at=None,
        last_error=None,
    )
    assert is_utc(a.scheduled_at) and is_utc(a.created_at) and is_utc(a.fire_at)
    assert (b.task_name, b.state, b.scheduled_at) == ("b", JobState.SCHEDULED, at(10))
    assert (b.args, b.kwargs, b.key, b.unique_key, b.fire_at) == ([], {}, None, None, None)
    assert (c.task_name, c.state) == ("c", JobState.AVAILABLE)
    assert await store.get_job(max(ids) + 1000) is None


async def test_enqueue_is_atomic(store: SqlStore) -> None:
    # The database rejects the last job (NOT NULL), after more rows than one INSERT page holds.
    bad = NewJob(task_name=None, scheduled_at=T0, triggered_by=TriggeredBy.API)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.enqueue([job("a") for _ in range(1500)] + [bad], at(0))
    assert await store.query_jobs(JobQuery()) == []
    assert await store.count_jobs_by_state() == {s: 0 for s in JobState}


async def test_enqueue_bulk_of_1000_in_order(store: SqlStore) -> None:
    new = [job(f"t{i % 7}", at(i % 3 - 1), kwargs={"i": i}) for i in range(1000)]
    ids = await store.enqueue(new, at(0))
    assert len(ids) == 1000 and len(set(ids)) == 1000
    by_id = {j.id: j for j in await store.query_jobs(JobQuery(limit=2000))}
    assert len(by_id) == 1000
    assert [by_id[i].kwargs["i"] for i in ids] == list(range(1000))
    assert [by_id[i].task_name for i in ids] == [n.task_name for n in new]
    counts = await store.count_jobs_by_state()
    assert counts[JobState.SCHEDULED] == 333  # scheduled_at = now + 1s for i % 3 == 2
    assert counts[JobState.AVAILABLE] == 667


async def test_claim_order_limit_and_fields(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            job("p0-late", at(5)),
            job("p0-early", at(1)),
            job("p5", at(4), priority=5),
            job("p0-early-2", at(1)),
            job("p-1", at(0), priority=-1),
            job("p5-early", at(3), priority=5),
            job("future", at(100), priority=100),
        ],
        at(0),
    )
    now = at(10)
    first = await store.claim("w1", 3, now, LEASE)
    assert [j.task_name for j in first] == ["p5-early", "p5", "p0-early"]
    for j in first:
        assert j.state is JobState.RUNNING
        assert j.attempt == 1
        assert j.worker_id == "w1"
        assert j.started_at == now and is_utc(j.started_at)
        assert j.lease_expires_at == now + timedelta(seconds=LEASE)
        assert j == await store.get_job(j.id)
    second = await store.claim("w2", 10, now, 12.5)
    assert [j.task_name for j in second] == ["p0-early-2", "p0-late", "p-1"]
    assert all(j.lease_expires_at == now + timedelta(seconds=12.5) for j in second)
    assert await store.claim("w3", 10, now, LEASE) == []
    # The not-yet-due job waits for its time, then a scheduled job is claimed directly.
    assert await store.claim("w3", 10, at(99.999999), LEASE) == []
    [future] = await store.claim("w3", 10, at(100), LEASE)
    assert future.id == ids[-1] and future.attempt == 1
    seen = [j.id for j in first + second + [future]]
    assert sorted(seen) == sorted(ids)


async def test_successive_claims_never_return_a_job_twice(store: SqlStore) -> None:
    ids = await store.enqueue([job(scheduled_at=at(i % 5)) for i in range(40)], at(0))
    seen: list[int] = []
    for n in range(100):
        batch = await store.claim(f"w{n % 3}", 3, at(10), LEASE)
        if not batch:
            break
        seen += [j.id for j in batch]
    assert sorted(seen) == sorted(ids)


@pytest.mark.timeout(60)
async def test_concurrent_claims_claim_every_job_exactly_once(store: SqlStore, db_url: str) -> None:
    n_jobs = 500
    ids = await store.enqueue(
        [job(scheduled_at=at(i % 17), priority=i % 3) for i in range(n_jobs)], at(0)
    )
    n_stores = 2 if store.dialect == "sqlite" else 4
    stores = [create_store(db_url) for _ in range(n_stores)]
    claimed: dict[str, list[int]] = {}

    async def claimer(s: SqlStore, worker: str, limit: int) -> None:
        mine = claimed.setdefault(worker, [])
        while True:
            batch = await s.claim(worker, limit, at(20), LEASE)
            if not batch:
                return
            assert all(j.worker_id == worker and j.attempt == 1 for j in batch)
            mine.extend(j.id for j in batch)

    try:
        await asyncio.gather(
            *(
                claimer(s, f"s{si}-t{ti}", 1 + (si + ti) % 7)
                for si, s in enumerate(stores)
                for ti in range(3)
            )
        )
    finally:
        for s in stores:
            await s.close()
    everything = [i for worker_ids in claimed.values() for i in worker_ids]
    assert len(everything) == n_jobs
    assert sorted(everything) == sorted(ids)
    assert sum(1 for worker_ids in claimed.values() if worker_ids) > 1
    # The database agrees: each job ran once, for the worker that got it.
    owner = {i: w for w, worker_ids in claimed.items() for i in worker_ids}
    for j in await store.query_jobs(JobQuery(limit=n_jobs + 10)):
        assert j.state is JobState.RUNNING and j.attempt == 1
        assert j.worker_id == owner[j.id]


async def test_extend_leases_only_touches_the_workers_running_jobs(store: SqlStore) -> None:
    await store.enqueue([job() for _ in range(4)], at(0))
    j1, j2, j4 = await store.claim("A", 2, at(1), LEASE) + await store.claim("A", 1, at(1), LEASE)
    j3 = await claim_one(store, "B", at(1))
    await store.complete([completion(j4, Outcome.success(), JobState.SUCCEEDED, at(2))])
    until = at(500)
    await store.extend_leases("A", [j1.id, j3.id, j4.id], until)
    assert (await get_job(store, j1.id)).lease_expires_at == until
    assert (await get_job(store, j2.id)).lease_expires_at == j2.lease_expires_at
    assert (await get_job(store, j3.id)).lease_expires_at == j3.lease_expires_at
    assert (await get_job(store, j4.id)).lease_expires_at is None
    await store.extend_leases("A", [], until)


FULL_FAILURE = Outcome(
    status=RunStatus.FAILED,
    error_type="HTTPStatusError",
    error_class=ErrorClass.SERVER_ERROR,
    error_message="503 Service Unavailable ✗",
    traceback='Traceback (most recent call last):\n  File "x.py", line 1\nBoom',
    exit_code=2,
    output="partial\noutput\n",
    result={"partial": [1, 2.5, None, True, {"é": "ü"}]},
)


TERMINAL = [
    (
        Outcome.success(
            {"rows": [1, 2, 3], "ok": True, "ratio": 0.25}, output="done\n", exit_code=0
        ),
        JobState.SUCCEEDED,
    ),
    (Outcome.success(), JobState.SUCCEEDED),
    (Outcome.success("just a string"), JobState.SUCCEEDED),
    (FULL_FAILURE, JobState.FAILED),
    (Outcome.timed_out(2.5, output="slow", exit_code=-9), JobState.TIMEOUT),
]


async def test_complete_terminal(store: SqlStore) -> None:
    ids = await store.enqueue(
        [job(f"t{i}", triggered_by=TriggeredBy.WEBHOOK) for i in range(len(TERMINAL))], at(0)
    )
    claimed = await store.claim("w1", len(ids), at(1.000001), LEASE)
    assert [j.id for j in claimed] == ids
    # Several completions in one call.
    await store.complete(
        [
            completion(j, outcome, state, at(3.5 + i))
            for i, (j, (outcome, state)) in enumerate(zip(claimed, TERMINAL, strict=True))
        ]
    )
    runs = await store.query_runs(RunQuery(sort="id"))
    assert [r.job_id for r in runs] == ids[::-1]
    for i, (job_id, run, (outcome, state)) in enumerate(
        zip(ids, runs[::-1], TERMINAL, strict=True)
    ):
        done = await get_job(store, job_id)
        assert done.state is state
        assert done.finished_at == at(3.5 + i) and is_utc(done.finished_at)
        assert done.lease_expires_at is None
        assert done.attempt == 1
        assert done.last_error == outcome.error_message
        assert run == Run(
            id=run.id,
            job_id=job_id,
            task_name=f"t{i}",
            attempt=1,
            status=outcome.status,
            triggered_by=TriggeredBy.WEBHOOK,
            started_at=at(1.000001),
            finished_at=at(3.5 + i),
            worker_id="w1",
            error_type=outcome.error_type,
            error_class=outcome.error_class,
            error_message=outcome.error_message,
            traceback=outcome.traceback,
            exit_code=outcome.exit_code,
            output=outcome.output,
            result=outcome.result,
        )
        assert run.duration_seconds == pytest.approx(2.499999 + i)
        assert is_utc(run.started_at) and is_utc(run.finished_at)
    # Finished jobs are never claimed again.
    assert await store.claim("w2", 10, at(1000), LEASE) == []
    await store.complete([])


async def test_complete_retrying_reschedules(store: SqlStore) -> None:
    [job_id] = await store.enqueue([job("a", max_attempts=3, triggered_by=TriggeredBy.API)], at(0))
    j = await claim_one(store, "w1", at(1))
    retry_at = at(11.000003)
    await store.complete([completion(j, FULL_FAILURE, JobState.RETRYING, at(2), retry_at)])
    retrying = await get_job(store, job_id)
    assert retrying.state is JobState.RETRYING
    assert retrying.scheduled_at == retry_at
    assert retrying.finished_at is None and retrying.lease_expires_at is None
    assert retrying.attempt == 1
    assert retrying.last_error == FULL_FAILURE.error_message
    assert await store.next_due_time() == retry_at
    assert await store.claim("w2", 10, at(11.000002), LEASE) == []
    again = await claim_one(store, "w2", retry_at)
    assert again.id == job_id and again.attempt == 2 and again.worker_id == "w2"
    assert again.started_at == retry_at
    await store.complete([completion(again, Outcome.success(), JobState.SUCCEEDED, at(12))])
    runs = await store.query_runs(RunQuery(job_id=job_id, sort="id"))
    assert [(r.attempt, r.status, r.triggered_by) for r in runs] == [
        (2, RunStatus.SUCCEEDED, TriggeredBy.RETRY),
        (1, RunStatus.FAILED, TriggeredBy.API),
    ]
    assert (await get_job(store, job_id)).state is JobState.SUCCEEDED


async def test_complete_for_job_no_longer_running_that_attempt(store: SqlStore) -> None:
    [job_id] = await store.enqueue([job("a", max_attempts=3)], at(0))
    first = await claim_one(store, "w1", at(1))
    # Its lease expired: recovered, then claimed by another worker (attempt 2).
    await store.recover_expired(at(100), "lease expired")
    assert (await get_job(store, job_id)).state is JobState.AVAILABLE
    late = completion(first, Outcome.success("late"), JobState.SUCCEEDED, at(101))
    await store.complete([late])
    assert (await get_job(store, job_id)).state is JobState.AVAILABLE
    second = await claim_one(store, "w2", at(102))
    assert second.attempt == 2
    await store.complete([completion(first, Outcome.success("later"), JobState.SUCCEEDED, at(103))])
    current = await get_job(store, job_id)
    assert current == second  # untouched
    # Finished jobs are left alone too.
    await store.complete([completion(second, Outcome.success(), JobState.SUCCEEDED, at(104))])
    await store.complete([completion(second, FULL_FAILURE, JobState.FAILED, at(105))])
    final = await get_job(store, job_id)
    assert final.state is JobState.SUCCEEDED and final.finished_at == at(104)
    runs = await store.query_runs(RunQuery(job_id=job_id, sort="id"))
    assert [(r.attempt, r.status, r.worker_id, r.result) for r in runs] == [
        (2, RunStatus.FAILED, "w2", FULL_FAILURE.result),
        (2, RunStatus.SUCCEEDED, "w2", None),
        (1, RunStatus.SUCCEEDED, "w1", "later"),
        (1, RunStatus.SUCCEEDED, "w1", "late"),
        (1, RunStatus.INTERRUPTED, "w1", None),
    ]


async def test_release(store: SqlStore) -> None:
    await store.enqueue([job("a", triggered_by=TriggeredBy.MANUAL) for _ in range(3)], at(0))
    j1, j2 = await store.claim("A", 2, at(1), LEASE)
    j3 = await claim_one(store, "B", at(1))
    assert await store.release("A", [j1.id, j3.id], at(7), "shutting down") == 1
    released = await get_job(store, j1.id)
    assert released.state is JobState.AVAILABLE
    # A stop is not the job's failure: one more attempt; attempt numbers keep counting claims.
    assert (released.attempt, released.max_attempts) == (1, 2)
    assert released.scheduled_at == at(7)
    assert released.worker_id is None and released.lease_expires_at is None
    assert released.finished_at is None
    assert await store.get_job(j2.id) == j2
    assert await store.get_job(j3.id) == j3
    [run] = await store.query_runs(RunQuery(job_id=j1.id, sort="id"))
    assert run.status is RunStatus.INTERRUPTED
    assert run.error_message == "shutting down"
    assert (run.attempt, run.worker_id, run.task_name) == (1, "A", "a")
    assert (run.started_at, run.finished_at) == (at(1), at(7))
    assert run.triggered_by is TriggeredBy.MANUAL
    assert await store.query_runs(RunQuery(job_id=j3.id, sort="id")) == []
    # Due now: claimable again, as attempt 2 of 2.
    again = await claim_one(store, "C", at(7))
    assert (again.id, again.attempt, again.max_attempts) == (j1.id, 2, 2)
    # Nothing of A's is running any more except j2; finished or foreign jobs are not released.
    assert await store.release("A", [j1.id], at(8), "x") == 0
    assert await store.release("A", [], at(8), "x") == 0


async def test_recover_expired(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            job("retryable", max_attempts=2),
            job("last-attempt", max_attempts=1),
            job("still-leased", max_attempts=2),
        ],
        at(0),
    )
    a = await claim_one(store, "w1", at(1))  # lease until at(31)
    b = await claim_one(store, "w2", at(1))  # lease until at(31)
    c = await claim_one(store, "w3", at(1))
    await store.extend_leases("w3", [c.id], at(31.000001))
    assert await store.recover_expired(at(30.999999), "dead") == []
    recovered = await store.recover_expired(at(31), "worker died")
    by_name = {j.task_name: j for j in recovered}
    assert set(by_name) == {"retryable", "last-attempt"}
    ra, rb = by_name["retryable"], by_name["last-attempt"]
    assert ra == await store.get_job(a.id) and rb == await store.get_job(b.id)
    # A dead worker spends no retry: both go back, each with one more attempt, even the one
    # on its last attempt.
    for j, max_attempts in ((ra, 3), (rb, 2)):
        assert j.state is JobState.AVAILABLE and (j.attempt, j.max_attempts) == (1, max_attempts)
        assert j.scheduled_at == at(31) and j.finished_at is None
        assert j.worker_id is None and j.lease_expires_at is None
        assert j.last_error == "worker died"
    assert (await get_job(store, c.id)).state is JobState.RUNNING
    for j, worker in ((a, "w1"), (b, "w2")):
        [run] = await store.query_runs(RunQuery(job_id=j.id, sort="id"))
        assert run.status is RunStatus.INTERRUPTED and run.error_message == "worker died"
        assert (run.attempt, run.worker_id) == (1, worker)
        assert (run.started_at, run.finished_at) == (at(1), at(31))
    assert await store.recover_expired(at(31), "again") == []
    again = await claim_one(store, "w4", at(31))
    assert again.id == ids[0] and again.attempt == 2


async def test_interruptions_past_max_interruptions_fail_the_job(store: SqlStore) -> None:
    await sync(
        store,
        [task("own-limit", None, retry=RetryPolicy(max_interruptions=1)), task("default", None)],
        at(0),
    )
    own, default = await store.enqueue([job("own-limit"), job("default")], at(0))
    states: dict[int, list[JobState]] = {own: [], default: []}
    for round_ in range(5):
        now = at(100 * round_ + 1)
        claimed = await store.claim("w", 2, now, LEASE)
        assert {j.id for j in claimed} <= set(states)
        # Leases expire; the process-wide limit is 3, the "own-limit" task's 1.
        expired = now + timedelta(seconds=LEASE)
        for j in await store.recover_expired(expired, "crashed", max_interruptions=3):
            states[j.id].append(j.state)
    A, F = JobState.AVAILABLE, JobState.FAILED
    assert states == {own: [A, F], default: [A, A, A, F]}
    failed = await get_job(store, default)
    assert failed.last_error == (
        "interrupted 4 times, more than max_interruptions=3 allows; last: crashed"
    )
    assert failed.attempt == 4 and failed.finished_at is not None
    runs = await store.query_runs(RunQuery(job_id=default, sort="id"))
    assert [(r.attempt, r.status) for r in runs] == [
        (n, RunStatus.INTERRUPTED) for n in (4, 3, 2, 1)
    ]
    # 0: the first interruption fails the job; release and reset_stuck follow the same rule.
    [released, reset] = await store.enqueue([job("x"), job("y")], at(1000))
    r1 = await claim_one(store, "w", at(1000))
    r2 = await claim_one(store, "v", at(1000))
    assert await store.release("w", [r1.id], at(1001), "stop", max_interruptions=0) == 1
    [after_reset] = await store.reset_stuck(0.5, at(1001), "stuck", max_interruptions=0)
    assert {r1.id, r2.id} == {released, reset} and after_reset.id == r2.id
    for job_id in (released, reset):
        assert (await get_job(store, job_id)).state is JobState.FAILED


async def test_cancel_job(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            job("sched", at(100)),
            job("avail", at(0)),
            job("retry", at(0), max_attempts=2),
            job("run", at(0)),
            job("done", at(0)),
        ],
        at(0),
    )
    sched, avail, retry, run, done = ids
    r = await store.claim("w", 3, at(1), LEASE)
    by = {j.task_name: j for j in r}
    assert set(by) == {"avail", "retry", "run"}
    await store.complete([completion(by["retry"], FULL_FAILURE, JobState.RETRYING, at(2), at(50))])
    d = await claim_one(store, "w", at(2))
    assert d.id == done
    await store.complete([completion(d, Outcome.success(), JobState.SUCCEEDED, at(3))])
    # "avail" was claimed above; put it back to pending.
    assert await store.release("w", [avail], at(4), "back") == 1

    for job_id, before in (
        (sched, JobState.SCHEDULED),
        (avail, JobState.AVAILABLE),
        (retry, JobState.RETRYING),
    ):
        assert (await get_job(store, job_id)).state is before
        cancelled = await store.cancel_job(job_id, at(5), "not needed")
        assert cancelled is not None
        assert cancelled.id == job_id and cancelled.state is JobState.CANCELLED
        assert cancelled.finished_at == at(5)
        assert cancelled == await store.get_job(job_id)

    # A running job is asked to stop: it stays running until its worker records the cancel.
    running_before = await get_job(store, run)
    requested = await store.cancel_job(run, at(6), "stop it")
    assert requested is not None and requested.state is JobState.RUNNING
    assert await store.cancel_requests(running_before.worker_id or "") == [run]
    assert await store.cancel_requests("someone-else") == []

    for job_id in (done, sched):  # succeeded, already cancelled
        before_job = await get_job(store, job_id)
        with pytest.raises(InvalidStateError):
            await store.cancel_job(job_id, at(6), "too late")
        assert await store.get_job(job_id) == before_job
    assert await store.cancel_job(max(ids) + 1000, at(6), "nothing") is None
    # Cancelled jobs are not pending any more.
    assert await store.claim("w2", 10, at(1000), LEASE) == []
    assert await store.next_due_time() is None


async def test_next_due_time(store: SqlStore) -> None:
    assert await store.next_due_time() is None
    await store.enqueue([job(scheduled_at=at(50)), job(scheduled_at=at(20.000001))], at(0))
    assert await store.next_due_time() == at(20.000001)
    await store.enqueue([job(scheduled_at=at(-3))], at(0))
    assert await store.next_due_time() == at(-3)
    await store.claim("w", 1, at(60), LEASE)  # the earliest one is running: not pending
    assert await store.next_due_time() == at(20.000001)


async def test_count_jobs_by_state(store: SqlStore) -> None:
    assert await store.count_jobs_by_state() == {s: 0 for s in JobState}
    # One job in every state.
    await store.enqueue([job(f"j{i}", at(0), max_attempts=2) for i in range(6)], at(0))
    claimed = {j.task_name: j for j in await store.claim("w", 6, at(1), LEASE)}
    await store.complete(
        [
            completion(claimed["j1"], Outcome.success(), JobState.SUCCEEDED, at(2)),
            completion(claimed["j2"], FULL_FAILURE, JobState.FAILED, at(2)),
            completion(claimed["j3"], Outcome.timed_out(1), JobState.TIMEOUT, at(2)),
            completion(claimed["j4"], FULL_FAILURE, JobState.RETRYING, at(2), at(100)),
        ]
    )
    await store.release("w", [claimed["j5"].id], at(3), "stop")
    await store.enqueue(
        [job("late", at(1000)), job("cancel-me", at(1000)), job("skip", skip_reason="overlap")],
        at(3),
    )
    [cancel_me] = await store.query_jobs(JobQuery(task_name="cancel-me"))
    await store.cancel_job(cancel_me.id, at(4), "no")
    counts = await store.count_jobs_by_state()
    assert counts == {s: 1 for s in JobState}
    assert all(isinstance(k, JobState) for k in counts)


async def test_query_jobs_and_runs_filters_newest_first(store: SqlStore) -> None:
    ids = []
    for i, name in enumerate(["a", "b", "a", "c", "a"]):
        ids += await store.enqueue([job(name, at(0))], at(i))
    assert [j.id for j in await store.query_jobs(JobQuery())] == ids[::-1]
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="a"))] == [
        ids[4],
        ids[2],
        ids[0],
    ]
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="a", limit=2))] == [
        ids[4],
        ids[2],
    ]
    assert [j.id for j in await store.query_jobs(JobQuery(limit=1))] == [ids[4]]
    assert await store.query_jobs(JobQuery(task_name="zzz")) == []
    assert await store.query_runs(RunQuery(sort="id")) == []

    # Claimed in id order (same priority and time): a, b, a.
    for i in range(3):
        j = await claim_one(store, "w", at(10 + i))
        assert j.id == ids[i]
        if i < 2:
            await store.complete(
                [completion(j, Outcome.success(i), JobState.SUCCEEDED, at(11 + i))]
            )
    assert [j.id for j in await store.query_jobs(JobQuery(states=[JobState.RUNNING]))] == [ids[2]]
    assert [j.id for j in await store.query_jobs(JobQuery(states=[JobState.AVAILABLE]))] == [
        ids[4],
        ids[3],
    ]
    finished = await store.query_jobs(JobQuery(states=[JobState.SUCCEEDED, JobState.RUNNING]))
    assert [j.id for j in finished] == [ids[2], ids[1], ids[0]]
    assert [
        j.id for j in await store.query_jobs(JobQuery(task_name="a", states=[JobState.RUNNING]))
    ] == [ids[2]]
    assert await store.query_jobs(JobQuery(task_name="b", states=[JobState.RUNNING])) == []
    assert await store.query_jobs(JobQuery(states=[JobState.FAILED])) == []

    j = await get_job(store, ids[2])
    await store.complete([completion(j, Outcome.success(2), JobState.SUCCEEDED, at(20))])
    runs = await store.query_runs(RunQuery(sort="id"))
    assert [r.result for r in runs] == [2, 1, 0]
    assert [r.job_id for r in runs] == [ids[2], ids[1], ids[0]]
    assert [r.result for r in await store.query_runs(RunQuery(limit=2, sort="id"))] == [2, 1]
    assert [r.result for r in await store.query_runs(RunQuery(task_name="a", sort="id"))] == [2, 0]
    assert [r.result for r in await store.query_runs(RunQuery(job_id=ids[1], sort="id"))] == [1]
    assert [
        r.result for r in await store.query_runs(RunQuery(task_name="a", job_id=ids[2], sort="id"))
    ] == [2]
    assert await store.query_runs(RunQuery(task_name="a", job_id=ids[1], sort="id")) == []
    assert await store.query_runs(RunQuery(task_name="zzz", sort="id")) == []


async def test_heartbeat_insert_then_update(store: SqlStore) -> None:
    assert await store.list_processors() == []
    info = ProcessorInfo(
        id="host-1:123:abcd",
        role="worker",
        host="host-1",
        pid=123,
        version="0.1.0",
        started_at=at(0),
        heartbeat_at=at(0),
        stopped_at=None,
    )
    await store.heartbeat(info)
    assert await store.list_processors() == [info]
    beat = ProcessorInfo(**{**info.__dict__, "heartbeat_at": at(5.000001)})
    await store.heartbeat(beat)
    assert await store.list_processors() == [beat]
    other = ProcessorInfo(
        id="host-2:9:ef",
        role="scheduler",
        host="host-2",
        pid=9,
        version="0.1.0",
        started_at=at(1),
        heartbeat_at=at(1),
        stopped_at=None,
    )
    await store.heartbeat(other)
    stopped = ProcessorInfo(**{**beat.__dict__, "heartbeat_at": at(9), "stopped_at": at(9)})
    await store.heartbeat(stopped)
    listed = {p.id: p for p in await store.list_processors()}
    assert listed == {stopped.id: stopped, other.id: other}
    assert all(is_utc(p.started_at) and is_utc(p.heartbeat_at) for p in listed.values())
    assert is_utc(listed[stopped.id].stopped_at)


# --- time ------------------------------------------------------------------------------------


TRICKY_TIMES = [
    datetime(2024, 5, 17, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 5, 17, 12, 0, 0, 999999, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2000, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2099, 7, 4, 3, 2, 1, 654321, tzinfo=UTC),
    datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 3, 31, 2, 30, 0, 424242, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 11, 3, 1, 30, 0, 777777, tzinfo=timezone(timedelta(hours=-4))),
]


async def test_timestamps_round_trip_to_the_microsecond(store: SqlStore) -> None:
    ids = await store.enqueue(
        [job(f"j{i}", t, fire_at=t) for i, t in enumerate(TRICKY_TIMES)], TRICKY_TIMES[0]
    )
    for job_id, t in zip(ids, TRICKY_TIMES, strict=True):
        j = await get_job(store, job_id)
        assert j.scheduled_at == t and j.fire_at == t
        assert is_utc(j.scheduled_at) and is_utc(j.fire_at)
        assert j.scheduled_at.replace(tzinfo=None) == t.astimezone(UTC).replace(tzinfo=None)
    defs = [task(f"t{i}") for i in range(len(TRICKY_TIMES))]
    await sync(
        store, defs, TRICKY_TIMES[3], {d.name: t for d, t in zip(defs, TRICKY_TIMES, strict=True)}
    )
    for d, t in zip(defs, TRICKY_TIMES, strict=True):
        stored = await store.get_task(d.name)
        assert stored is not None and stored.next_fire_at == t and is_utc(stored.next_fire_at)
    # Equality in SQL too: a schedule is due at exactly its stored time, not a microsecond
    # before, and the planner gets that time back.
    for d, t in sorted(zip(defs, TRICKY_TIMES, strict=True), key=lambda p: p[1]):
        assert await due_names(store, t - timedelta(microseconds=1)) == []
        fire = Fire(d.name, t, None, job(d.name, t, fire_at=t))
        handled, ids = await store.fire_due(t, 10, firing(fire))
        assert handled == 1 and len(ids) == 1


# --- fire_due, claim horizon, get_tasks --------------------------------------------------------
def planner(step_seconds: float = 60.0) -> Any:
    """A pure planner: a job per fire, next fire one step later."""

    def plan(due: DueSchedule) -> Fire:
        new = job(
            due.task_name,
            due.next_fire_at,
            triggered_by=TriggeredBy.SCHEDULER,
            fire_at=due.next_fire_at,
            max_attempts=due.max_attempts,
            args=due.args,
            kwargs=due.kwargs,
            priority=due.priority,
        )
        return Fire(
            due.task_name, due.next_fire_at, due.next_fire_at + timedelta(seconds=step_seconds), new
        )

    return plan


async def synced(store: SqlStore, fires: dict[str, datetime | None], **kw: Any) -> None:
    defs = [task(name, **kw) for name in fires]
    await store.sync_tasks(defs, ALL_SOURCES, fires, T0)


async def test_fire_due_creates_jobs_and_advances_in_order(store: SqlStore) -> None:
    await synced(
        store,
        {"b": at(1), "a": at(1), "late": at(100), "off": None},
        args=(7,),
        kwargs={"k": "v"},
        priority=3,
        retry=RetryPolicy(max_retries=2),
    )
    handled, ids = await store.fire_due(at(2), 10, planner())
    assert handled == 2 and len(ids) == 2
    made = {j.task_name: j for j in await store.query_jobs(JobQuery())}
    assert set(made) == {"a", "b"}
    a = made["a"]
    assert a.fire_at == at(1) and a.scheduled_at == at(1) and a.state is JobState.AVAILABLE
    assert a.args == [7] and a.kwargs == {"k": "v"} and a.priority == 3
    assert a.max_attempts == 3 and a.triggered_by is TriggeredBy.SCHEDULER
    task_a = await store.get_task("a")
    assert task_a is not None
    assert task_a.next_fire_at == at(61) and task_a.last_fire_at == at(1)
    assert await store.fire_due(at(2), 10, planner()) == (0, [])


async def test_fire_due_limit_and_horizon(store: SqlStore) -> None:
    await synced(store, {f"t{i}": at(i) for i in range(5)})
    handled, ids = await store.fire_due(at(10), 2, planner())
    assert handled == 2 and len(ids) == 2
    assert [j.task_name for j in await store.query_jobs(JobQuery())] == ["t1", "t0"]
    # Due within the horizon but after now: created ahead, as scheduled.
    handled, _ = await store.fire_due(at(2), 10, planner(), horizon=at(3.5))
    assert handled == 2
    ahead = {j.task_name: j.state for j in await store.query_jobs(JobQuery())}
    assert ahead["t2"] is JobState.AVAILABLE and ahead["t3"] is JobState.SCHEDULED
    assert "t4" not in ahead


async def test_fire_due_skip_still_advances(store: SqlStore) -> None:
    await synced(store, {"s": at(0)})

    def skip(due: Any) -> Fire:
        return Fire(due.task_name, due.next_fire_at, at(500), None)

    assert await store.fire_due(at(1), 10, skip) == (1, [])
    s = await store.get_task("s")
    assert s is not None and s.next_fire_at == at(500)
    assert await store.query_jobs(JobQuery()) == []


async def test_fire_due_never_duplicates_a_fire(store: SqlStore) -> None:
    await synced(store, {"d": at(0)})
    again = Fire("d", at(0), at(0), job("d", at(0), fire_at=at(0)))
    assert len((await store.fire_due(at(0), 10, firing(again)))[1]) == 1
    # The schedule still says at(0) (the fire above moved it to at(0) again): a second fire of
    # the same time must not create a second job.
    handled, ids = await store.fire_due(at(1), 10, planner())
    assert handled == 1 and ids == []
    assert len(await store.query_jobs(JobQuery(task_name="d"))) == 1


async def test_concurrent_fire_due_fires_each_schedule_once(store: SqlStore, db_url: str) -> None:
    await synced(store, {f"c{i}": at(0) for i in range(50)})
    others = [create_store(db_url) for _ in range(3)]
    created: list[int] = []
    try:
        for _ in range(10):  # rounds until nothing is due; each schedule fires once per round
            results = await asyncio.gather(
                *(s.fire_due(at(1), 20, planner()) for s in [store, *others])
            )
            created += [i for _, ids in results for i in ids]
            if sum(handled for handled, _ in results) == 0:
                break
    finally:
        for s in others:
            await s.close()
    assert len(created) == len(set(created)) == 50
    made = await store.query_jobs(JobQuery(limit=1000))
    assert sorted(j.task_name for j in made) == sorted(f"c{i}" for i in range(50))


async def test_claim_horizon_takes_jobs_due_soon(store: SqlStore) -> None:
    await store.enqueue([job("soon", at(5)), job("later", at(60))], at(0))
    assert await store.claim("w", 10, at(0), LEASE) == []
    claimed = await store.claim("w", 10, at(0), LEASE, horizon=at(10))
    assert [j.task_name for j in claimed] == ["soon"]
    assert claimed[0].started_at == at(0) and claimed[0].scheduled_at == at(5)


async def test_get_tasks(store: SqlStore) -> None:
    names = [f"g{i}" for i in range(700)]  # more than one IN-list chunk
    await store.sync_tasks([task(n) for n in names], ALL_SOURCES, {}, T0)
    found = await store.get_tasks([*names, "missing", "g1"])
    assert sorted(t.name for t in found) == sorted(names)
    assert await store.get_tasks([]) == []


# --- unique keys (B7) and deadlines (A6) ---------------------------------------------------------


async def test_unique_key_returns_the_active_job_until_it_finishes(store: SqlStore) -> None:
    [first] = await store.enqueue([job("u", at(10), unique_key="k")], at(0))  # scheduled
    assert await store.enqueue([job("u", unique_key="k", kwargs={"x": 1})], at(1)) == [first]
    # The key is global, not per task.
    assert await store.enqueue([job("other", unique_key="k")], at(1)) == [first]
    running = await claim_one(store, "w", at(10))
    assert running.id == first
    assert await store.enqueue([job("u", unique_key="k")], at(11)) == [first]
    failed = Outcome.failure("E", "again")
    await store.complete([completion(running, failed, JobState.RETRYING, at(12), at(20))])
    assert (await get_job(store, first)).state is JobState.RETRYING
    assert await store.enqueue([job("u", unique_key="k")], at(13)) == [first]
    # Other keys, and no key, make jobs of their own.
    others = await store.enqueue([job("u", at(99), unique_key="k2"), job("u", at(99))], at(13))
    assert first not in others and len(set(others)) == 2
    retried = await claim_one(store, "w", at(20))
    assert retried.id == first
    await store.complete([completion(retried, Outcome.success(), JobState.SUCCEEDED, at(21))])
    # Finished: the key is free again (no window given).
    [second] = await store.enqueue([job("u", unique_key="k")], at(21))
    assert second not in (first, *others)
    assert (await get_job(store, second)).unique_key == "k"
    assert await store.enqueue([job("u", unique_key="k")], at(22)) == [second]
    assert len(await store.query_jobs(JobQuery())) == 4
    # A cancelled job frees its key too.
    await store.cancel_job(second, at(23), "no")
    [third] = await store.enqueue([job("u", unique_key="k")], at(24))
    assert third not in (first, second)


async def test_unique_for_window_covers_recently_finished_jobs(store: SqlStore) -> None:
    [first] = await store.enqueue([job("u", unique_key="k")], at(0))
    running = await claim_one(store, "w", at(0))
    failed = Outcome.failure("E", "no")
    await store.complete([completion(running, failed, JobState.FAILED, at(10))])
    # Finished at 10: inside a 5 s window up to 15, boundary included.
    assert await store.enqueue([job("u", unique_key="k", unique_for_seconds=5)], at(12)) == [first]
    assert await store.enqueue([job("u", unique_key="k", unique_for_seconds=5)], at(15)) == [first]
    assert len(await store.query_jobs(JobQuery())) == 1
    [second] = await store.enqueue([job("u", unique_key="k", unique_for_seconds=5)], at(15.000001))
    assert second != first
    # The active job wins over any finished one.
    assert await store.enqueue([job("u", unique_key="k", unique_for_seconds=999)], at(16)) == [
        second
    ]
    done = await claim_one(store, "w", at(16))
    await store.complete([completion(done, Outcome.success(), JobState.SUCCEEDED, at(20))])
    # Both finished within the window: the latest one is returned.
    assert await store.enqueue([job("u", unique_key="k", unique_for_seconds=999)], at(21)) == [
        second
    ]
    # Without a window, finished jobs do not hold the key.
    [third] = await store.enqueue([job("u", unique_key="k")], at(21))
    assert third not in (first, second)
    assert len(await store.query_jobs(JobQuery())) == 3


async def test_unique_key_duplicates_in_one_batch_make_one_job(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            job("a", unique_key="k"),
            job("b"),
            job("c", unique_key="k"),
            job("d", unique_key="j"),
            job("e", unique_key="j", unique_for_seconds=60),
            job("f"),
        ],
        at(0),
    )
    assert ids[0] == ids[2] and ids[3] == ids[4]
    assert ids[0] < ids[1] < ids[3] < ids[5]  # new jobs still in request order
    made = {j.id: j.task_name for j in await store.query_jobs(JobQuery())}
    assert made == {ids[0]: "a", ids[1]: "b", ids[3]: "d", ids[5]: "f"}
    # Keys held from before and new jobs mixed in one call.
    again = await store.enqueue(
        [job("x"), job("y", unique_key="k"), job("z", unique_key="n")], at(1)
    )
    assert again[1] == ids[0] and again[0] not in ids and again[2] not in ids
    assert len(await store.query_jobs(JobQuery())) == 6


async def test_concurrent_enqueues_of_one_key_create_one_job(store: SqlStore, db_url: str) -> None:
    others = [create_store(db_url) for _ in range(4)]
    try:
        for round_ in range(5):
            results = await asyncio.gather(
                *(
                    s.enqueue([job("plain"), job("c", unique_key=f"k{round_}")], at(0))
                    for s in others
                    for _ in range(3)
                )
            )
            assert len({ids[1] for ids in results}) == 1
            assert len({ids[0] for ids in results}) == len(results)
    finally:
        for s in others:
            await s.close()
    keyed = await store.query_jobs(JobQuery(task_name="c"))
    assert sorted(str(j.unique_key) for j in keyed) == [f"k{i}" for i in range(5)]
    assert len(await store.query_jobs(JobQuery(task_name="plain"))) == 5 * 4 * 3


async def test_deadline_watchdog_is_created_and_cancelled_on_success(store: SqlStore) -> None:
    alarm = job("alarm", at(30), max_attempts=2, priority=5, kwargs={"ignored": 1})
    ids = await store.enqueue([job("x", deadline_job=alarm), job("plain")], at(0))
    assert len(ids) == 2
    [w] = await store.query_jobs(JobQuery(task_name="alarm"))
    assert w.id not in ids and w.state is JobState.SCHEDULED and w.scheduled_at == at(30)
    assert w.kwargs == {"ignored": 1, "job_id": ids[0], "task": "x"} and w.args == []
    assert (w.max_attempts, w.priority, w.created_at) == (2, 5, at(0))
    x = await claim_one(store, "w", at(1))
    assert x.id == ids[0]
    await store.complete([completion(x, Outcome.success(), JobState.SUCCEEDED, at(5))])
    w = await get_job(store, w.id)
    assert w.state is JobState.CANCELLED and w.finished_at == at(5)
    assert w.last_error == f"watched job {ids[0]} succeeded in time"
    assert (await get_job(store, ids[1])).state is JobState.AVAILABLE
    assert await store.claim("w", 10, at(31), LEASE, horizon=at(31)) != []  # only "plain"
    assert [j.task_name for j in await store.query_jobs(JobQuery(states=[JobState.RUNNING]))] == [
        "plain"
    ]


async def test_deadline_watchdog_stays_unless_the_job_succeeds(store: SqlStore) -> None:
    def alarm() -> NewJob:
        return job("alarm", at(30))

    f, t, r, s, c = await store.enqueue(
        [
            job("f", deadline_job=alarm()),
            job("t", deadline_job=alarm()),
            job("r", deadline_job=alarm()),
            job("s", deadline_job=alarm()),
            job("c", at(10), deadline_job=alarm()),
        ],
        at(0),
    )
    jf, jt, jr, js = await store.claim("w", 4, at(1), LEASE)
    assert [j.id for j in (jf, jt, jr, js)] == [f, t, r, s]
    # s is released (shutdown); its late success report is for an attempt no longer running.
    assert await store.release("w", [s], at(2), "released") == 1
    timeout = Outcome.timed_out(1)
    await store.complete(
        [
            completion(jf, Outcome.failure("E", "no"), JobState.FAILED, at(3)),
            completion(jt, timeout, JobState.TIMEOUT, at(3)),
            completion(jr, Outcome.failure("E", "again"), JobState.RETRYING, at(3), at(1.5)),
            completion(js, Outcome.success(), JobState.SUCCEEDED, at(3)),
        ]
    )
    assert (await store.cancel_job(c, at(3), "not wanted")) is not None
    watchdogs = {j.kwargs["job_id"]: j for j in await store.query_jobs(JobQuery(task_name="alarm"))}
    assert sorted(watchdogs) == sorted([f, t, r, s, c])
    assert all(w.state is JobState.SCHEDULED for w in watchdogs.values())
    # The retry succeeds: only its own watchdog is cancelled.
    retried = await claim_one(store, "w", at(4))
    assert retried.id == r
    await store.complete([completion(retried, Outcome.success(), JobState.SUCCEEDED, at(5))])
    states = {
        j.kwargs["job_id"]: j.state for j in await store.query_jobs(JobQuery(task_name="alarm"))
    }
    assert states == {
        f: JobState.SCHEDULED,
        t: JobState.SCHEDULED,
        r: JobState.CANCELLED,
        s: JobState.SCHEDULED,
        c: JobState.SCHEDULED,
    }
    # At the deadline the others fire.
    fired = [j for j in await store.claim("w", 10, at(30), LEASE) if j.task_name == "alarm"]
    names = {f: "f", t: "t", s: "s", c: "c"}
    assert {j.kwargs["job_id"]: j.kwargs["task"] for j in fired} == names


async def test_deadline_watchdog_only_for_jobs_created(store: SqlStore) -> None:
    alarm = job("alarm", at(30))
    ids = await store.enqueue(
        [
            job("x", unique_key="k", deadline_job=alarm),
            job("x", unique_key="k", deadline_job=alarm),
        ],
        at(0),
    )
    assert ids[0] == ids[1]
    assert await store.enqueue([job("x", unique_key="k", deadline_job=alarm)], at(1)) == [ids[0]]
    [w] = await store.query_jobs(JobQuery(task_name="alarm"))
    assert w.kwargs == {"job_id": ids[0], "task": "x"}


# --- reset of stuck jobs, running counts (PostgreSQL multi-node) -----------------------------


async def test_reset_stuck_takes_back_jobs_running_too_long(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            job("retryable", max_attempts=2),
            job("last-attempt", max_attempts=1),
            job("recent", max_attempts=2),
            job("pending", at(100)),
        ],
        at(0),
    )
    # Leases far in the future: the reset goes by how long a job has run, not by its lease.
    [a] = await store.claim("w1", 1, at(1), 3600)
    [b] = await store.claim("w2", 1, at(2), 3600)
    [c] = await store.claim("w1", 1, at(40), 3600)
    assert await store.reset_stuck(60, at(60.999999), "r") == []
    reason = "reset by an operator: running longer than 1m"
    reset = await store.reset_stuck(60, at(62), reason)
    by_name = {j.task_name: j for j in reset}
    assert set(by_name) == {"retryable", "last-attempt"}
    ra, rb = by_name["retryable"], by_name["last-attempt"]
    assert ra == await store.get_job(a.id) and rb == await store.get_job(b.id)
    for j, max_attempts in ((ra, 3), (rb, 2)):  # one more attempt each, as after a crash
        assert j.state is JobState.AVAILABLE and j.scheduled_at == at(62)
        assert (j.attempt, j.max_attempts) == (1, max_attempts)
        assert j.worker_id is None and j.lease_expires_at is None and j.finished_at is None
    assert ra.last_error == rb.last_error == reason
    for j, worker, started in ((a, "w1", at(1)), (b, "w2", at(2))):
        [run] = await store.query_runs(RunQuery(job_id=j.id, sort="id"))
        assert run.status is RunStatus.INTERRUPTED and run.error_message == reason
        assert (run.attempt, run.worker_id, run.started_at, run.finished_at) == (
            1,
            worker,
            started,
            at(62),
        )
    assert (await get_job(store, c.id)).state is JobState.RUNNING
    assert (await get_job(store, ids[3])).state is JobState.SCHEDULED
    assert await store.reset_stuck(60, at(62), reason) == []
    # The old worker's late result is recorded but leaves the job alone.
    await store.complete([completion(a, Outcome.success(), JobState.SUCCEEDED, at(63))])
    assert (await get_job(store, a.id)).state is JobState.AVAILABLE
    assert len(await store.query_runs(RunQuery(job_id=a.id, sort="id"))) == 2
    again = await claim_one(store, "w3", at(64))
    assert again.id == a.id and again.attempt == 2


async def test_running_counts_by_worker(store: SqlStore) -> None:
    assert await store.running_counts_by_worker() == {}
    await store.enqueue([job(str(i)) for i in range(5)], at(0))
    w1 = await store.claim("w1", 3, at(1), LEASE)
    await store.claim("w2", 1, at(1), LEASE)
    assert await store.running_counts_by_worker() == {"w1": 3, "w2": 1}
    await store.complete([completion(w1[0], Outcome.success(), JobState.SUCCEEDED, at(2))])
    assert await store.release("w1", [w1[1].id], at(2), "stop") == 1
    assert await store.running_counts_by_worker() == {"w1": 1, "w2": 1}


async def test_watch_sees_jobs_made_due_by_another_store(store: SqlStore, db_url: str) -> None:
    changed = threading.Event()
    watcher = store.watch(changed.set)
    other = create_store(db_url)
    try:
        # SQLite's watcher may start after the first commit: commit until it notices (bounded).
        for i in range(40):
            await other.enqueue([job(key=str(i))], T0)
            if changed.wait(0.05):
                break
        assert changed.is_set()
    finally:
        await other.close()
        watcher.close()


async def test_concurrent_syncs_of_the_same_new_tasks(store: SqlStore, db_url: str) -> None:
    # Processes of every role sync their definitions at start, possibly at the same moment.
    defs = [task(f"t{i}") for i in range(50)]
    others = [create_store(db_url) for _ in range(3)]
    try:
        reports = await asyncio.gather(*(sync(s, defs, at(0)) for s in (store, *others)))
    finally:
        for other in others:
            await other.close()
    assert sorted(len(r.created) for r in reports) == [0, 0, 0, 50]
    assert len(await store.list_tasks()) == 50


# --- definitions a producer knows (add_missing_tasks) ----------------------------------------


async def test_add_missing_tasks_creates_only_absent_names(store: SqlStore) -> None:
    await sync(store, [task("kept"), task("gone")], at(0), {"kept": at(60), "gone": at(60)})
    await sync(store, [task("kept")], at(1), {"kept": at(60)})  # "gone" is removed now
    given = [
        task("kept", schedule="*/2 * * * *", description="a producer's older copy"),
        task("gone"),
        task("new", source=TaskSource.CONFIG, args=(1,), kwargs={"x": "y"}),
        task("quiet", schedule=None),
    ]
    fires: dict[str, datetime | None] = {"kept": at(999), "gone": at(999), "new": at(90)}
    created = await store.add_missing_tasks(given, {**fires, "quiet": None}, at(5))
    assert sorted(created) == ["new", "quiet"]
    # Stored tasks, removed ones included, are never changed.
    kept = await store.get_task("kept")
    assert kept is not None and kept.definition == task("kept") and kept.next_fire_at == at(60)
    assert kept.updated_at == at(0)
    gone = await store.get_task("gone")
    assert gone is not None and gone.removed and gone.next_fire_at is None
    new = await store.get_task("new")
    assert new is not None and new.definition == given[2]
    assert new.definition.source is TaskSource.CONFIG
    assert new.next_fire_at == at(90) and new.created_at == at(5) and not new.removed
    quiet = await store.get_task("quiet")
    assert quiet is not None and quiet.next_fire_at is None
    # The next sync of their source sees them as its own: nothing to change.
    report = await sync(
        store,
        [task("new", source=TaskSource.CONFIG, args=(1,), kwargs={"x": "y"})],
        at(6),
        sources=[TaskSource.CONFIG],
    )
    assert report.unchanged == ["new"] and report.created == []
    assert await store.add_missing_tasks(given, fires, at(7)) == []
    assert await store.add_missing_tasks([], {}, at(7)) == []


async def test_add_missing_tasks_races_syncs_and_each_other(store: SqlStore, db_url: str) -> None:
    # Producers register what they know while processes start and sync the same definitions:
    # nobody fails, and each name is created exactly once.
    for round_ in range(3):
        defs = [task(f"r{round_}-t{i}") for i in range(40)]
        fires: dict[str, datetime | None] = {d.name: at(60) for d in defs}
        others = [create_store(db_url) for _ in range(4)]
        try:
            results = await asyncio.gather(
                sync(others[0], defs, at(0), fires),
                others[1].add_missing_tasks(defs, fires, at(0)),
                sync(others[2], defs, at(0), fires),
                others[3].add_missing_tasks(list(reversed(defs)), fires, at(0)),
                store.add_missing_tasks(defs[::2], fires, at(0)),
            )
        finally:
            for other in others:
                await other.close()
        created = [
            *results[0].created,
            *results[1],
            *results[2].created,
            *results[3],
            *results[4],
        ]
        assert sorted(created) == sorted(d.name for d in defs)
    assert len(await store.list_tasks()) == 120


async def test_sync_report_holds_the_previous_state_of_changed_tasks(store: SqlStore) -> None:
    await sync(store, [task("a"), task("b"), task("c")], at(0))
    await sync(store, [task("a"), task("b"), task("c", description="v2")], at(1))
    before_c = await store.get_task("c")
    await store.set_task_enabled("b", False, None, at(2))
    before_b = await store.get_task("b")
    report = await sync(store, [task("a"), task("c", description="v3")], at(3))
    assert report.updated == ["c"] and report.removed == ["b"] and report.unchanged == ["a"]
    assert report.previous == {"c": before_c, "b": before_b}
    # A restored task's previous state is the removed one.
    removed_b = await store.get_task("b")
    assert removed_b is not None and removed_b.removed
    report = await sync(store, [task("a"), task("b"), task("c", description="v3")], at(4))
    assert report.updated == ["b"] and report.previous == {"b": removed_b}
    first = await sync(store, [task("z")], at(5), sources=[TaskSource.CONFIG])
    assert first.created == ["z"] and first.previous == {}
