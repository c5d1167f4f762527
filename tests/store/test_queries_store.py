"""The Store contract of the API's methods (single-task changes, paged queries, run statistics,
queue figures), on SQLite and on PostgreSQL through the ``store`` fixture.

Every ``now`` is an explicit aware-UTC datetime built from ``T0``; figures are checked against
a plain Python computation over the same runs.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.store.probes import due_names
from tickwork.domain.jobs import (
    Completion,
    JobState,
    NewJob,
    Outcome,
    Run,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.queries import RUN_SORTS, JobQuery, RunQuery
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.errors import ConflictError, InvalidStateError
from tickwork.store import SqlStore

T0 = datetime(2024, 5, 17, 12, 0, 0, 123457, tzinfo=UTC)
LEASE = 30.0
TIMED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def http(name: str, schedule: str | None = "*/5 * * * *", **kw: Any) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=HttpTarget(url=f"https://example.com/{name}"),
        schedule=schedule,
        source=TaskSource.API,
        **kw,
    )


def new_job(task_name: str, scheduled_at: datetime = T0, **kw: Any) -> NewJob:
    kw.setdefault("triggered_by", TriggeredBy.API)
    return NewJob(task_name=task_name, scheduled_at=scheduled_at, **kw)


def record(
    job_id: int,
    task_name: str,
    started: datetime,
    seconds: float,
    status: RunStatus = RunStatus.SUCCEEDED,
    triggered_by: TriggeredBy = TriggeredBy.SCHEDULER,
) -> Completion:
    """A finished attempt to write as a run; the job itself is left alone (not running)."""
    return Completion(
        job_id=job_id,
        task_name=task_name,
        attempt=1,
        triggered_by=triggered_by,
        worker_id="w",
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        outcome=Outcome(status),
        next_state=JobState.SUCCEEDED,
    )


async def all_runs(store: SqlStore) -> list[Run]:
    return await store.query_runs(RunQuery(limit=100_000, sort="id"))


# --- single task changes -----------------------------------------------------------------------


async def test_create_task_then_conflict_even_when_removed(store: SqlStore) -> None:
    defn = http("ping", timeout_seconds=5.0, tags=("api",))
    created = await store.create_task(defn, TaskSource.API, at(300), at(0))
    assert created.definition == defn
    assert created.next_fire_at == at(300)
    assert created.created_at == at(0) == created.updated_at
    assert not created.removed
    assert await store.get_task("ping") == created

    with pytest.raises(ConflictError, match="'ping' already exists"):
        await store.create_task(http("ping", schedule=None), TaskSource.API, None, at(1))
    removed = await store.remove_task("ping", at(2))
    assert removed is not None and removed.removed
    with pytest.raises(ConflictError, match="'ping' already exists"):
        await store.create_task(defn, TaskSource.API, at(300), at(3))
    # The source is the one given, whatever the definition says.
    other = await store.create_task(
        replace(http("other"), source=TaskSource.CODE), TaskSource.API, None, at(4)
    )
    assert other.definition.source is TaskSource.API


async def test_update_task_replaces_definition_keeps_source_and_history(store: SqlStore) -> None:
    await store.create_task(http("t"), TaskSource.API, at(300), at(0))
    [job_id] = await store.enqueue([new_job("t")], at(0))
    await store.complete([record(job_id, "t", at(1), 1.0)])

    changed = replace(
        http("t", schedule="0 * * * *", enabled=False, priority=4), source=TaskSource.CONFIG
    )
    updated = await store.update_task(changed, None, at(10))
    assert updated is not None
    assert updated.definition == replace(changed, source=TaskSource.API)
    assert updated.next_fire_at is None
    assert (updated.created_at, updated.updated_at) == (at(0), at(10))
    assert [j.id for j in await store.query_jobs(JobQuery(task_name="t"))] == [job_id]
    assert [r.job_id for r in await store.query_runs(RunQuery(task_name="t", sort="id"))] == [
        job_id
    ]
    assert await store.update_task(http("missing"), None, at(11)) is None


async def test_remove_task_cancels_pending_jobs_only(store: SqlStore) -> None:
    await store.create_task(http("t"), TaskSource.API, at(60), at(0))
    await store.create_task(http("other"), TaskSource.API, at(60), at(0))
    ids = await store.enqueue(
        [new_job("t"), new_job("t"), new_job("t", at(3600)), new_job("other")], at(0)
    )
    running = await store.claim("w", 1, at(1), LEASE)
    assert [j.id for j in running] == [ids[0]]

    removed = await store.remove_task("t", at(5))
    assert removed is not None
    assert removed.removed and removed.next_fire_at is None and removed.updated_at == at(5)
    jobs = {j.id: j for j in await store.query_jobs(JobQuery())}
    assert jobs[ids[0]].state is JobState.RUNNING  # a running job finishes
    for pending in ids[1:3]:
        assert jobs[pending].state is JobState.CANCELLED
        assert jobs[pending].last_error == "job definition deleted"
        assert jobs[pending].finished_at == at(5)
    assert jobs[ids[3]].state is JobState.AVAILABLE  # another task's job
    assert await due_names(store, at(60)) == ["other"]
    assert await store.remove_task("missing", at(6)) is None
    again = await store.remove_task("t", at(7))
    assert again is not None and again.removed


# --- jobs ----------------------------------------------------------------------------------------


async def test_query_jobs_filters(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            new_job("a", key="k1"),
            new_job("b", key="k1"),
            new_job("a", at(3600), key="k2"),
            new_job("a"),
        ],
        at(0),
    )
    [claimed] = await store.claim("w", 1, at(0), LEASE)
    assert claimed.id == ids[0]

    async def found(**kw: Any) -> list[int]:
        return [j.id for j in await store.query_jobs(JobQuery(**kw))]

    assert await found() == ids[::-1]
    assert await found(task_name="a") == [ids[3], ids[2], ids[0]]
    assert await found(states=[JobState.SCHEDULED, JobState.RUNNING]) == [ids[2], ids[0]]
    assert await found(states=[]) == ids[::-1]  # empty: any state
    assert await found(key="k1") == [ids[1], ids[0]]
    assert await found(task_name="a", key="k1", states=[JobState.RUNNING]) == [ids[0]]
    assert await found(oldest_first=True, limit=2) == ids[:2]
    assert await found(task_name="nobody") == []


async def test_query_jobs_pages_never_overlap_or_skip(store: SqlStore) -> None:
    ids = await store.enqueue([new_job("a" if i % 3 else "b") for i in range(23)], at(0))
    for task_name, expected in ((None, ids), ("a", [i for n, i in enumerate(ids) if n % 3])):
        newest: list[int] = []
        cursor: int | None = None
        for _ in range(len(ids) + 1):  # bounded: a cursor that stalls fails
            page = await store.query_jobs(JobQuery(task_name=task_name, before_id=cursor, limit=5))
            if not page:
                break
            newest += [j.id for j in page]
            cursor = page[-1].id
        assert newest == expected[::-1]
        oldest: list[int] = []
        cursor = None
        for _ in range(len(ids) + 1):
            page = await store.query_jobs(
                JobQuery(task_name=task_name, after_id=cursor, oldest_first=True, limit=4)
            )
            if not page:
                break
            oldest += [j.id for j in page]
            cursor = page[-1].id
        assert oldest == expected
    between = await store.query_jobs(JobQuery(after_id=ids[3], before_id=ids[7]))
    assert [j.id for j in between] == ids[4:7][::-1]


async def test_reschedule_pending_job_but_not_a_finished_one(store: SqlStore) -> None:
    later, now_due, done = await store.enqueue(
        [new_job("a", at(600)), new_job("a", at(900)), new_job("a")], at(0)
    )
    moved = await store.reschedule_job(later, at(1200), at(10))
    assert moved is not None
    assert (moved.state, moved.scheduled_at) == (JobState.SCHEDULED, at(1200))
    # To a time already come: due now.
    due = await store.reschedule_job(now_due, at(5), at(10))
    assert due is not None and (due.state, due.scheduled_at) == (JobState.AVAILABLE, at(5))
    # Claimed in due order: the one due at 0, then the one moved to 5 (the other waits).
    assert [j.id for j in await store.claim("w", 5, at(10), LEASE)] == [done, now_due]
    await store.complete([record(done, "a", at(10), 1.0)])  # it was running: now succeeded
    for job_id, state in ((now_due, "running"), (done, "succeeded")):
        with pytest.raises(InvalidStateError, match=f"job {job_id} is {state}"):
            await store.reschedule_job(job_id, at(20), at(11))
        unchanged = await store.get_job(job_id)
        assert unchanged is not None and unchanged.state.value == state
    assert await store.reschedule_job(999_999, at(20), at(11)) is None


# --- runs ----------------------------------------------------------------------------------------


async def make_runs(store: SqlStore, count: int = 40, seed: int = 7) -> list[Run]:
    """Runs of three tasks and two jobs each, with ties in start times and durations."""
    rnd = random.Random(seed)
    job_ids = await store.enqueue([new_job(n) for n in ("a", "a", "b", "b", "c", "c")], at(0))
    statuses = [RunStatus.SUCCEEDED] * 4 + [RunStatus.FAILED, RunStatus.TIMEOUT]
    completions = []
    for _ in range(count):
        index = rnd.randrange(len(job_ids))
        completions.append(
            record(
                job_ids[index],
                "abc"[index // 2],
                at(rnd.randrange(10) * 60),  # only 10 start times: many ties
                rnd.choice([0.5, 1.0, 2.0, 3.25]),  # few durations: ties there too
                rnd.choice(statuses),
                rnd.choice([TriggeredBy.SCHEDULER, TriggeredBy.MANUAL]),
            )
        )
    # Written in several transactions so that ids do not follow start times.
    for i in range(0, count, 7):
        await store.complete(completions[i : i + 7])
    runs = await all_runs(store)
    assert len(runs) == count
    return runs


def sort_key(sort: str) -> Callable[[Run], tuple[Any, int]]:
    keys: dict[str, Callable[[Run], Any]] = {
        "started_at": lambda r: r.started_at,
        "finished_at": lambda r: r.finished_at,
        "duration": lambda r: r.duration_seconds,
        "id": lambda r: r.id,
    }
    return lambda r: (keys[sort](r), r.id)


async def test_query_runs_every_sort_both_directions_with_cursors(store: SqlStore) -> None:
    runs = await make_runs(store)
    for sort in RUN_SORTS:
        for ascending in (False, True):
            expected = [r.id for r in sorted(runs, key=sort_key(sort), reverse=not ascending)]
            seen: list[int] = []
            cursor: int | None = None
            for _ in range(len(runs) + 1):  # bounded: a cursor that stalls fails
                where: dict[str, Any] = {"after_id": cursor} if ascending else {"before_id": cursor}
                page = await store.query_runs(
                    RunQuery(sort=sort, ascending=ascending, limit=6, **where)
                )
                if not page:
                    break
                seen += [r.id for r in page]
                cursor = page[-1].id
            assert seen == expected, (sort, ascending)
            by_offset = []
            for offset in range(0, len(runs), 9):
                page = await store.query_runs(
                    RunQuery(sort=sort, ascending=ascending, offset=offset, limit=9)
                )
                by_offset += [r.id for r in page]
            assert by_offset == expected, (sort, ascending)


async def test_query_runs_filters(store: SqlStore) -> None:
    runs = await make_runs(store)
    newest = sorted(runs, key=sort_key("started_at"), reverse=True)

    async def check(query: RunQuery, keep: Callable[[Run], bool]) -> None:
        got = [r.id for r in await store.query_runs(replace(query, limit=1000))]
        assert got == [r.id for r in newest if keep(r)], query
        assert got, query  # each filter here matches something and drops something
        assert len(got) < len(runs), query

    await check(RunQuery(task_name="b"), lambda r: r.task_name == "b")
    job_id = runs[0].job_id
    await check(RunQuery(job_id=job_id), lambda r: r.job_id == job_id)
    problems = [RunStatus.FAILED, RunStatus.TIMEOUT]
    await check(RunQuery(statuses=problems), lambda r: r.status in problems)
    manual = [TriggeredBy.MANUAL]
    await check(RunQuery(triggered_by=manual), lambda r: r.triggered_by is TriggeredBy.MANUAL)
    await check(RunQuery(started_from=at(180)), lambda r: r.started_at >= at(180))
    await check(RunQuery(started_to=at(180)), lambda r: r.started_at < at(180))
    await check(
        RunQuery(task_name="a", statuses=[RunStatus.SUCCEEDED], started_from=at(60)),
        lambda r: r.task_name == "a" and r.status is RunStatus.SUCCEEDED and r.started_at >= at(60),
    )
    # A cursor with a filter: the rest of the filtered order after that run.
    a_runs = [r for r in newest if r.task_name == "a"]
    rest = await store.query_runs(RunQuery(task_name="a", before_id=a_runs[2].id, limit=1000))
    assert [r.id for r in rest] == [r.id for r in a_runs[3:]]
    assert await store.query_runs(RunQuery(before_id=10**9)) == []  # no such run: no position


async def test_get_run(store: SqlStore) -> None:
    runs = await make_runs(store, count=3)
    assert await store.get_run(runs[1].id) == runs[1]
    assert await store.get_run(10**9) is None


# --- statistics ----------------------------------------------------------------------------------


def python_p95(values: Sequence[float]) -> float:
    """percentile_cont(0.95) by the standard library: the inclusive method interpolates
    between closest ranks the same way."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


async def test_run_stats_match_a_python_computation(store: SqlStore) -> None:
    rnd = random.Random(3)
    job_ids = await store.enqueue([new_job(n) for n in ("a", "b", "c", "d")], at(0))
    statuses = [
        *[RunStatus.SUCCEEDED] * 5,
        RunStatus.FAILED,
        RunStatus.TIMEOUT,
        RunStatus.CANCELLED,
        RunStatus.SKIPPED,
        RunStatus.INTERRUPTED,
        RunStatus.DEFERRED,
    ]
    completions = []
    for _ in range(300):
        task_index = rnd.randrange(3)  # "d" only gets the one run below
        completions.append(
            record(
                job_ids[task_index],
                "abc"[task_index],
                at(rnd.uniform(-600, 4200)),
                round(rnd.expovariate(0.2), 6),
                rnd.choice(statuses),
            )
        )
    completions.append(record(job_ids[3], "d", at(100), 7.5))
    await store.complete(completions)
    runs = await all_runs(store)
    start, end = at(0), at(3600)

    stats = await store.run_stats(start, end)
    assert [s.task_name for s in stats] == ["a", "b", "c", "d"]
    for s in stats:
        mine = [r for r in runs if r.task_name == s.task_name and start <= r.started_at < end]
        timed = [r.duration_seconds for r in mine if r.status in TIMED]
        assert s.runs == len(mine)
        assert s.succeeded == sum(r.status is RunStatus.SUCCEEDED for r in mine)
        assert s.failed == sum(r.status in TIMED - {RunStatus.SUCCEEDED} for r in mine)
        assert s.avg_duration_seconds == pytest.approx(statistics.fmean(timed))
        assert s.max_duration_seconds == pytest.approx(max(timed))
        assert s.p95_duration_seconds == pytest.approx(python_p95(timed))
    assert stats[3].p95_duration_seconds == pytest.approx(7.5)

    only_b = await store.run_stats(start, end, task_name="b")
    assert only_b == [s for s in stats if s.task_name == "b"]
    assert await store.run_stats(at(-10_000), at(-9_000)) == []


async def test_run_stats_without_timed_runs(store: SqlStore) -> None:
    [job_id] = await store.enqueue([new_job("a")], at(0))
    await store.complete(
        [record(job_id, "a", at(1), 1.0, RunStatus.SKIPPED), record(job_id, "a", at(2), 0.0)]
    )
    await store.complete([record(job_id, "a", at(3), 2.0, RunStatus.INTERRUPTED)])
    [s] = await store.run_stats(at(0), at(10))
    assert (s.runs, s.succeeded, s.failed) == (3, 1, 0)
    assert s.p95_duration_seconds == 0.0 and s.max_duration_seconds == 0.0

    [job_b] = await store.enqueue([new_job("b")], at(0))
    await store.complete([record(job_b, "b", at(20), 5.0, RunStatus.SKIPPED)])
    [b] = await store.run_stats(at(15), at(30))
    assert (b.runs, b.succeeded, b.failed) == (1, 0, 0)
    assert (b.avg_duration_seconds, b.p95_duration_seconds, b.max_duration_seconds) == (
        None,
        None,
        None,
    )


async def test_runs_by_hour_counts_utc_hours_in_range(store: SqlStore) -> None:
    [job_id] = await store.enqueue([new_job("a")], at(0))
    day = datetime(2024, 5, 17, tzinfo=UTC)
    starts = [
        day.replace(hour=0, minute=0, second=0),
        day.replace(hour=0, minute=59, second=59, microsecond=999_000),
        day.replace(hour=9, minute=30),
        day.replace(hour=9, minute=31),
        day.replace(hour=9, minute=32),
        day.replace(hour=23, minute=59),
        day + timedelta(days=1, hours=9),  # the next day: same hour of day
        day + timedelta(days=3),  # outside the range
    ]
    await store.complete([record(job_id, "a", s, 1.0) for s in starts])
    by_hour = await store.runs_by_hour(day, day + timedelta(days=2))
    assert by_hour == {0: 2, 9: 4, 23: 1}
    assert await store.runs_by_hour(day + timedelta(hours=9), day + timedelta(hours=10)) == {9: 3}


async def test_queue_stats(store: SqlStore) -> None:
    ids = await store.enqueue(
        [
            new_job("a", at(-120)),
            new_job("a", at(-30)),
            new_job("a", at(5)),
            new_job("a", at(600)),
            new_job("a", at(0)),
        ],
        at(0),
    )
    empty = await store.queue_stats(at(0))
    claimed = await store.claim("w", 2, at(0), LEASE)
    assert [j.id for j in claimed] == ids[:2]
    assert empty.by_state[JobState.RUNNING] == 0

    stats = await store.queue_stats(at(10))
    assert stats.by_state[JobState.RUNNING] == 2
    assert stats.by_state[JobState.AVAILABLE] + stats.by_state[JobState.SCHEDULED] == 3
    assert stats.by_state[JobState.SUCCEEDED] == 0
    assert set(stats.by_state) == set(JobState)
    assert stats.due_now == 2  # due at 0 and at 5; not the one due at 600
    assert stats.oldest_due_at == at(0)
    assert stats.expired_leases == 0

    expired = await store.queue_stats(at(LEASE + 1))
    assert expired.expired_leases == 2
    assert (await store.queue_stats(at(LEASE - 1))).expired_leases == 0


async def test_ping(store: SqlStore) -> None:
    await store.ping()


async def test_recent_runs_are_each_tasks_newest_by_start(store: SqlStore) -> None:
    job_a, job_b, _ = await store.enqueue([new_job("a"), new_job("b"), new_job("c")], at(0))
    # Recorded out of start order; "b" has fewer runs than asked for.
    starts = [30, 10, 50, 20, 40]
    await store.complete([record(job_a, "a", at(s), s / 10) for s in starts])
    await store.complete([record(job_b, "b", at(5), 2.0, RunStatus.FAILED)])
    recent = await store.recent_runs(["a", "b", "c", "nope"], 3)
    assert set(recent) == {"a", "b", "c", "nope"}
    assert [m.started_at for m in recent["a"]] == [at(50), at(40), at(30)]
    assert [m.duration_seconds for m in recent["a"]] == pytest.approx([5.0, 4.0, 3.0])
    assert [(m.status, m.job_id, m.task_name) for m in recent["b"]] == [
        (RunStatus.FAILED, job_b, "b")
    ]
    assert recent["c"] == [] and recent["nope"] == []
    assert await store.recent_runs([], 3) == {}


async def test_recent_runs_of_many_tasks_in_one_call(store: SqlStore) -> None:
    names = [f"t{i:03d}" for i in range(450)]  # more tasks than one compound statement holds
    ids = await store.enqueue([new_job(n) for n in names], at(0))
    await store.complete([record(i, n, at(1), 1.0) for i, n in zip(ids, names, strict=True)])
    recent = await store.recent_runs(names, 60)
    assert all(
        len(recent[n]) == 1 and recent[n][0].job_id == i for i, n in zip(ids, names, strict=True)
    )
