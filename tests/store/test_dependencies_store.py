"""Job dependencies on both backends: downstream jobs released from their upstreams' final runs
(success, failed and finished branches, fan-out, fan-in), once per (task, run) after a crash or
with two schedulers at once, the cursor's first pass, and PostgreSQL's runs committed out of ID
order (``store/dependencies.py``, ``runtime/releaser.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.store.dependency_runs import released, run
from tickwork.clock import FakeClock
from tickwork.domain.dependencies import After, UpstreamOn
from tickwork.domain.jobs import (
    JobState,
    NewJob,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.limits import Policies
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.runtime.releaser import Releaser
from tickwork.store import SqlStore, create_store
from tickwork.store.schema import dependency_cursor

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9/"


def defn(name: str, *after: After) -> TaskDefinition:
    return TaskDefinition(name=name, target=HttpTarget(url=URL), policies=Policies(after=after))


async def define(store: SqlStore, *definitions: TaskDefinition) -> None:
    await store.add_missing_tasks(list(definitions), {d.name: None for d in definitions}, T0)


async def releaser(store: SqlStore, clock: FakeClock) -> Releaser:
    """A releaser whose first pass has set the cursor (runs before it release nothing)."""
    r = Releaser(store, clock=clock)
    await r.run_once(force=True)
    return r


async def test_each_branch_releases_on_its_end_and_fans_out(store: SqlStore) -> None:
    await define(
        store,
        defn("extract"),
        defn("load", After("extract")),
        defn("report", After("extract")),
        defn("alarm", After("extract", UpstreamOn.FAILED)),
        defn("cleanup", After("extract", UpstreamOn.FINISHED)),
    )
    clock = FakeClock(T0)
    r = await releaser(store, clock)
    ok = await run(store, "extract", RunStatus.SUCCEEDED, at=T0)
    result = await r.run_once()
    assert result is not None and len(result.released) == 3
    for name in ("load", "report", "cleanup"):
        (job,) = await released(store, name)
        assert job.released_by_run_id == ok
        assert job.triggered_by is TriggeredBy.DEPENDENCY
        assert job.state is JobState.AVAILABLE
    assert await released(store, "alarm") == []

    bad = await run(store, "extract", RunStatus.TIMEOUT, at=T0 + timedelta(minutes=1))
    await r.run_once()
    assert [j.released_by_run_id for j in await released(store, "alarm")] == [bad]
    assert [j.released_by_run_id for j in await released(store, "cleanup")] == [ok, bad]
    assert len(await released(store, "load")) == 1


async def test_a_retried_attempt_is_not_a_failure_of_its_job(store: SqlStore) -> None:
    await define(
        store,
        defn("extract"),
        defn("alarm", After("extract", UpstreamOn.FAILED)),
        defn("load", After("extract")),
    )
    r = await releaser(store, FakeClock(T0))
    first = await run(store, "extract", RunStatus.FAILED, next_state=JobState.RETRYING, at=T0)
    await r.run_once()
    assert await released(store, "alarm") == []
    (job,) = await store.query_jobs(JobQuery(task_name="extract", limit=5))
    second = await run(store, "extract", RunStatus.SUCCEEDED, job_id=job.id, attempt=2, at=T0)
    await r.run_once()
    assert await released(store, "alarm") == []
    assert [j.released_by_run_id for j in await released(store, "load")] == [second]
    assert first != second


async def test_fan_in_waits_for_every_upstream_since_the_last_release(store: SqlStore) -> None:
    await define(store, defn("a1"), defn("a2"), defn("join", After("a1"), After("a2")))
    r = await releaser(store, FakeClock(T0))
    await run(store, "a1", RunStatus.SUCCEEDED, at=T0)
    await r.run_once()
    assert await released(store, "join") == []
    a2 = await run(store, "a2", RunStatus.SUCCEEDED, at=T0)
    await r.run_once()
    assert [j.released_by_run_id for j in await released(store, "join")] == [a2]
    # a2 again: a1 has not run since the release
    await run(store, "a2", RunStatus.SUCCEEDED, at=T0)
    await r.run_once()
    assert len(await released(store, "join")) == 1
    a1 = await run(store, "a1", RunStatus.SUCCEEDED, at=T0)
    await run(store, "a1", RunStatus.FAILED, at=T0)  # does not count, and does not release again
    await r.run_once()
    assert [j.released_by_run_id for j in await released(store, "join")] == [a2, a1]


async def test_the_first_pass_releases_nothing_for_earlier_runs(store: SqlStore) -> None:
    await define(store, defn("extract"), defn("load", After("extract")))
    await run(store, "extract", RunStatus.SUCCEEDED, at=T0)
    r = Releaser(store, clock=FakeClock(T0))
    await r.run_once()
    await r.run_once()
    assert await released(store, "load") == []


async def test_a_disabled_or_paused_downstream_is_not_released(store: SqlStore) -> None:
    await define(store, defn("extract"), defn("load", After("extract")))
    await store.set_task_enabled("load", False, None, T0)
    r = await releaser(store, FakeClock(T0))
    await run(store, "extract", RunStatus.SUCCEEDED, at=T0)
    await r.run_once()
    assert await released(store, "load") == []


async def test_a_release_after_a_crash_is_neither_lost_nor_repeated(store: SqlStore) -> None:
    await define(store, defn("extract"), defn("load", After("extract")))
    clock = FakeClock(T0)
    r = await releaser(store, clock)
    (start,) = await _cursor(store)
    ok = await run(store, "extract", RunStatus.SUCCEEDED, at=T0)
    await r.run_once()
    assert len(await released(store, "load")) == 1
    # The process dies after its jobs committed but as if the cursor had not moved: a new
    # process (nothing in memory) reads the same run again.
    await _set_cursor(store, start)
    again = Releaser(store, clock=clock)
    result = await again.run_once()
    assert result is not None and result.released == () and ok in result.read
    assert [j.released_by_run_id for j in await released(store, "load")] == [ok]
    # Nor is a release lost when the pass never happened: the run waits above the cursor.
    late = await run(store, "extract", RunStatus.SUCCEEDED, at=T0 + timedelta(minutes=1))
    await Releaser(store, clock=clock).run_once()
    assert [j.released_by_run_id for j in await released(store, "load")] == [ok, late]


async def test_two_schedulers_release_each_run_once(store: SqlStore) -> None:
    await define(store, defn("extract"), defn("load", After("extract")))
    clock = FakeClock(T0)
    await releaser(store, clock)
    runs = [
        await run(store, "extract", RunStatus.SUCCEEDED, at=T0 + timedelta(seconds=i))
        for i in range(5)
    ]
    passes = [Releaser(store, clock=clock) for _ in range(4)]
    await asyncio.gather(*(p.run_once() for p in passes))
    await asyncio.gather(*(p.run_once() for p in passes))
    assert [j.released_by_run_id for j in await released(store, "load")] == runs


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[SqlStore]:
    s = create_store(pg_url)
    await s.open()
    yield s
    await s.close()


@pytest.mark.postgres
async def test_a_run_committed_after_a_newer_one_is_still_released(
    pg_store: SqlStore, pg_url: str
) -> None:
    """PostgreSQL: the run whose ID was taken first commits last; the cursor waits for it."""
    store = pg_store
    await define(store, defn("extract"), defn("load", After("extract")))
    clock = FakeClock(T0)
    r = Releaser(store, clock=clock, settle_seconds=30)
    await r.run_once(force=True)
    (job_id,) = await store.enqueue([NewJob("extract", T0, TriggeredBy.API, priority=99)], T0)
    await store.claim("w", 1, T0, 60)
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    slow = engine.connect()
    try:
        trans = slow.begin()
        # The slow transaction takes its run ID first and holds it uncommitted.
        slow_id = slow.execute(sa.text("SELECT nextval('tickwork_runs_id_seq')")).scalar()
        fast = await run(store, "extract", RunStatus.SUCCEEDED, at=T0 + timedelta(seconds=1))
        assert fast > slow_id
        first = await r.run_once()
        assert first is not None and first.released and first.cursor < slow_id
        clock.advance(10)
        await r.run_once()  # the cursor moves only over run IDs seen 30 s ago
        assert await _cursor(store) == [first.cursor]
        slow.execute(
            sa.text(
                "INSERT INTO tickwork_runs (id, job_id, task_name, attempt, status, triggered_by,"
                " started_at, finished_at, duration_seconds)"
                " VALUES (:id, :job, 'extract', 1, 'succeeded', 'api', :at, :at, 0)"
            ),
            {"id": slow_id, "job": job_id, "at": T0},
        )
        slow.execute(
            sa.text(
                "UPDATE tickwork_jobs SET state = 'succeeded', finished_at = :at WHERE id = :id"
            ),
            {"id": job_id, "at": T0},
        )
        trans.commit()
    finally:
        slow.close()
        engine.dispose()
    clock.advance(25)
    await r.run_once()
    got = sorted(j.released_by_run_id or 0 for j in await released(store, "load"))
    assert got == sorted([fast, slow_id])


async def _cursor(store: SqlStore) -> list[int]:
    with store.engine.connect() as conn:
        return [int(v) for v in conn.execute(sa.select(dependency_cursor.c.run_id)).scalars()]


async def _set_cursor(store: SqlStore, run_id: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(dependency_cursor.update().values(run_id=run_id))
