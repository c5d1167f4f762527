"""Each task's stored latest run (``store/latest.py``): kept by completions (out of order, several
of a task in one batch, concurrent on PostgreSQL), by interrupted runs and by retention; filled
by migration 0013 from the runs already there. Read back through the table and through the
Store contract (``search_tasks``' status filters, ``last_run_statuses``)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tickwork.clock import FakeClock
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import FAILING, NEVER_RAN, TaskFilter
from tickwork.domain.retention import RetentionPolicy
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.runtime.pruner import Pruner
from tickwork.store import SqlStore, create_store, migrate
from tickwork.store.engines import create_engine
from tickwork.store.schema import runs, task_latest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def define(store: SqlStore, *names: str) -> None:
    defs = [TaskDefinition(name=n, target=HttpTarget(url="http://127.0.0.1:9/")) for n in names]
    await store.add_missing_tasks(defs, {n: None for n in names}, T0)


def completion(
    job_id: int,
    name: str,
    started: datetime,
    status: RunStatus,
    *,
    attempt: int = 1,
    next_state: JobState = JobState.SUCCEEDED,
    retry_at: datetime | None = None,
) -> Completion:
    return Completion(
        job_id=job_id,
        task_name=name,
        attempt=attempt,
        triggered_by=TriggeredBy.API,
        worker_id="w",
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        outcome=Outcome(status),
        next_state=next_state,
        retry_at=retry_at,
    )


async def claimed(store: SqlStore, name: str, started: datetime) -> int:
    """A job of ``name`` running for worker ``w`` since ``started`` (its first attempt)."""
    (job_id,) = await store.enqueue([NewJob(name, started, TriggeredBy.API)], started)
    (job,) = await store.claim("w", 1, started, 60)
    assert job.id == job_id
    return job_id


async def finish(
    store: SqlStore,
    name: str,
    started: datetime,
    status: RunStatus,
    *,
    next_state: JobState = JobState.SUCCEEDED,
    retry_at: datetime | None = None,
) -> int:
    """A job of ``name`` claimed at ``started`` and completed; returns its run's ID."""
    job_id = await claimed(store, name, started)
    done = completion(job_id, name, started, status, next_state=next_state, retry_at=retry_at)
    (run_id,) = await store.complete([done])
    return run_id


def entries(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(task_latest.c.task_name, task_latest.c.run_id, task_latest.c.status)
        )
        return {name: (run_id, status) for name, run_id, status in rows}


async def failing(store: SqlStore, removed: bool | None = None) -> list[str]:
    page = await store.search_tasks(TaskFilter(last_status=FAILING, removed=removed), LATER)
    return [t.name for t in page.tasks]


async def test_an_older_run_completing_later_does_not_take_the_newer_ones_place(
    store: SqlStore,
) -> None:
    await define(store, "a")
    newer = await finish(store, "a", at(20), RunStatus.SUCCEEDED)
    await finish(store, "a", at(10), RunStatus.FAILED)  # started earlier, recorded later
    assert entries(store.engine) == {"a": (newer, "succeeded")}
    assert await failing(store) == []
    # Same start: the run recorded last is the newer one.
    tie = await finish(store, "a", at(20), RunStatus.TIMEOUT)
    assert tie > newer
    assert entries(store.engine) == {"a": (tie, "timeout")}
    assert await failing(store) == ["a"]
    assert await store.last_run_statuses(["a", "unknown"]) == {"a": RunStatus.TIMEOUT}


async def test_one_batch_with_several_runs_of_a_task_keeps_its_newest(store: SqlStore) -> None:
    await define(store, "a", "b", "c")
    starts = {
        ("a", 5): RunStatus.FAILED,
        ("b", 7): RunStatus.FAILED,
        ("a", 30): RunStatus.SUCCEEDED,
    }
    starts |= {("a", 20): RunStatus.TIMEOUT, ("b", 3): RunStatus.SUCCEEDED}
    batch = []
    for (name, minute), status in starts.items():
        job_id = await claimed(store, name, at(minute))
        batch.append(completion(job_id, name, at(minute), status))
    ids = await store.complete(batch)
    by_start = dict(zip(starts, ids, strict=True))
    assert entries(store.engine) == {
        "a": (by_start[("a", 30)], "succeeded"),
        "b": (by_start[("b", 7)], "failed"),
    }
    assert await failing(store) == ["b"]
    never = await store.search_tasks(TaskFilter(last_status=NEVER_RAN), LATER)
    assert [t.name for t in never.tasks] == ["c"]
    # A later batch of only older runs changes nothing.
    job_id = await claimed(store, "a", at(1))
    await store.complete([completion(job_id, "a", at(1), RunStatus.FAILED)])
    assert entries(store.engine)["a"] == (by_start[("a", 30)], "succeeded")


async def test_interrupted_runs_are_latest_only_when_newest(store: SqlStore) -> None:
    await define(store, "a", "b")
    # a: the job interrupted started after the last completed run.
    await finish(store, "a", at(1), RunStatus.SUCCEEDED)
    await claimed(store, "a", at(5))
    # b: the interrupted job started before a run that completed meanwhile.
    await claimed(store, "b", at(2))
    done = await finish(store, "b", at(6), RunStatus.FAILED)
    taken = await store.recover_expired(at(10), "worker lost")
    assert {j.task_name for j in taken} == {"a", "b"}
    found = entries(store.engine)
    assert found["a"][1] == "interrupted"
    assert found["b"] == (done, "failed")
    interrupted = await store.search_tasks(TaskFilter(last_status="interrupted"), LATER)
    assert [t.name for t in interrupted.tasks] == ["a"]


async def test_pruning_a_tasks_newest_run_makes_the_one_left_its_latest(store: SqlStore) -> None:
    await define(store, "a", "b", "c")
    # a: its older run's job is retrying (active), so that run stays; the newer one goes.
    kept = await finish(
        store,
        "a",
        at(1),
        RunStatus.FAILED,
        next_state=JobState.RETRYING,
        retry_at=LATER + timedelta(days=400),
    )
    await finish(store, "a", at(2), RunStatus.SUCCEEDED)
    await finish(store, "b", at(3), RunStatus.FAILED)  # b: its only run goes
    await finish(store, "c", at(4), RunStatus.SUCCEEDED)
    assert await failing(store) == ["b"]
    policy = RetentionPolicy(runs_days=30, keep_last_runs=0, pause_seconds=0, batch_size=2)
    report = await Pruner(store, policy, clock=FakeClock(T0 + timedelta(days=60))).prune()
    assert report.counts["runs"] == 3
    assert entries(store.engine) == {"a": (kept, "failed")}
    assert await failing(store) == ["a"]
    never = await store.search_tasks(TaskFilter(last_status=NEVER_RAN), LATER)
    assert [t.name for t in never.tasks] == ["b", "c"]


async def test_a_removed_definition_keeps_its_latest_run(store: SqlStore) -> None:
    await define(store, "a")
    run_id = await finish(store, "a", at(1), RunStatus.FAILED)
    await store.remove_task("a", at(2))
    assert entries(store.engine) == {"a": (run_id, "failed")}
    assert await failing(store, removed=True) == ["a"]
    assert await failing(store, removed=False) == []


async def test_concurrent_completions_on_postgresql_newest_wins(pg_url: str) -> None:
    """Two stores (each its own connections) complete batches over the same tasks at once, in
    shuffled orders, older and newer runs mixed: no deadlock, no error, the newest run wins."""
    names = [f"t{i}" for i in range(8)]
    rounds = 12
    first, second = create_store(pg_url), create_store(pg_url)
    await first.open()
    await second.open()
    try:
        await define(first, *names)
        # Each (store, round) claims its jobs first; then both complete all rounds at once.
        plans: list[list[list[Completion]]] = [[], []]
        newest: dict[str, tuple[datetime, RunStatus]] = {}
        shuffle = random.Random(7).shuffle
        for side, store in enumerate((first, second)):
            for r in range(rounds):
                batch = []
                for name in names:
                    # Interleaved starts: each side's later rounds are newer, and the sides
                    # alternate, so every round of one side is newer than some of the other's.
                    started = at(2 * r + side + 10)
                    status = random.Random(f"{side}{r}{name}").choice(
                        (RunStatus.SUCCEEDED, RunStatus.FAILED)
                    )
                    (job_id,) = await store.enqueue(
                        [NewJob(name, started, TriggeredBy.API)], started
                    )
                    batch.append(completion(job_id, name, started, status))
                    if name not in newest or newest[name][0] < started:
                        newest[name] = (started, status)
                shuffle(batch)
                plans[side].append(batch)
        # Completions of jobs not claimed still record their runs (the job stays as it is).

        async def complete_all(store: SqlStore, batches: list[list[Completion]]) -> int:
            # Newest rounds first on one side, oldest first on the other: older runs arrive
            # after newer ones.
            return sum([len(await store.complete(b)) for b in batches])

        done = await asyncio.gather(
            complete_all(first, plans[0][::-1]), complete_all(second, plans[1])
        )
        assert done == [rounds * len(names)] * 2
        found = entries(first.engine)
        assert {n: s for n, (_, s) in found.items()} == {n: s.value for n, (_, s) in newest.items()}
        with first.engine.connect() as conn:
            for name, (run_id, _) in found.items():
                started = conn.execute(sa.select(runs.c.started_at).where(runs.c.id == run_id))
                assert started.scalar() == newest[name][0]
    finally:
        await first.close()
        await second.close()


def test_migration_0013_fills_each_tasks_latest_run(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        migrate.upgrade(engine, "0012")

        def row(run_id: int, task: str, minute: float, status: str) -> dict[str, object]:
            started = at(minute)
            return {
                "id": run_id,
                "job_id": run_id,
                "task_name": task,
                "attempt": 1,
                "status": status,
                "triggered_by": "api",
                "started_at": started,
                "finished_at": started + timedelta(seconds=1),
                "duration_seconds": 1.0,
            }

        rows = [
            row(1, "a", 10, "failed"),
            row(2, "a", 30, "succeeded"),
            row(3, "a", 20, "timeout"),  # recorded after the newest, started before it
            row(4, "b", 5, "succeeded"),
            row(5, "b", 5, "failed"),  # same start: the later ID is the newer
            row(6, "c", 1, "interrupted"),
        ]
        with engine.begin() as conn:
            conn.execute(runs.insert(), rows)
        migrate.upgrade(engine)
        assert entries(engine) == {
            "a": (2, "succeeded"),
            "b": (5, "failed"),
            "c": (6, "interrupted"),
        }
        migrate.downgrade(engine, "0012")
        assert "tickwork_task_latest" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
