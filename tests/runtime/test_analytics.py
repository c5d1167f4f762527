"""Metrics, insights and health (``tickwork.analytics``) over a real store and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.service.analytics import DEGRADED, HEALTHY, UNHEALTHY, Analytics
from tickwork.service.context import Context
from tickwork.service.queries import ControlState
from tickwork.store import SqlStore, create_store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HEARTBEAT = 5.0  # seconds; a processor is lost after 3 missed heartbeats


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def analytics(store: SqlStore, clock: FakeClock) -> Analytics:
    return Analytics(Context(store, clock=clock))


async def define(store: SqlStore, name: str, timeout: float | None = None) -> int:
    """A task and one job of it, whose ID the task's runs refer to."""
    defn = TaskDefinition(
        name=name, target=HttpTarget(f"https://e.com/{name}"), timeout_seconds=timeout
    )
    await store.create_task(defn, TaskSource.API, None, NOW)
    [job_id] = await store.enqueue(
        [NewJob(task_name=name, scheduled_at=at(10**6), triggered_by=TriggeredBy.API)], NOW
    )
    return job_id


async def runs(
    store: SqlStore,
    name: str,
    job_id: int,
    specs: list[tuple[datetime, float, RunStatus]],
) -> None:
    await store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=name,
                attempt=1,
                triggered_by=TriggeredBy.SCHEDULER,
                worker_id="w",
                started_at=started,
                finished_at=started + timedelta(seconds=seconds),
                outcome=Outcome(status),
                next_state=JobState.SUCCEEDED,
            )
            for started, seconds, status in specs
        ]
    )


def hour(h: int, minute: int = 0) -> datetime:
    return NOW.replace(hour=h, minute=minute) - timedelta(days=1)


OK, FAILED, TIMEOUT, SKIPPED = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.TIMEOUT,
    RunStatus.SKIPPED,
)


async def test_metrics_validate_the_range(analytics: Analytics) -> None:
    naive = datetime(2026, 1, 1)
    for start, end, field in (
        (naive, NOW, "start"),
        (at(-60), naive, "end"),
        (NOW, NOW, "start"),
        (at(60), NOW, "start"),
        (NOW - timedelta(days=367), NOW, "end"),
    ):
        with pytest.raises(ConfigError) as info:
            await analytics.metrics(start, end)
        assert info.value.field == field, (start, end)
    assert await analytics.metrics(NOW - timedelta(days=366), NOW) == []


async def test_insights(analytics: Analytics, store: SqlStore) -> None:
    failing = await define(store, "failing")
    skipped_only = await define(store, "skipped-only")
    once = await define(store, "failed-once")
    near = await define(store, "near", timeout=10.0)
    far = await define(store, "far", timeout=100.0)
    untimed = await define(store, "untimed")
    await runs(store, "failing", failing, [(hour(3), 1.0, FAILED), (hour(3, 5), 2.0, TIMEOUT)])
    await runs(store, "skipped-only", skipped_only, [(hour(3), 0.0, SKIPPED)] * 3)
    await runs(store, "failed-once", once, [(hour(4), 1.0, FAILED)])
    # p95 of 1, 9, 9, 9.5 is 9.425: 94 % of the 10 s timeout.
    await runs(store, "near", near, [(hour(5), d, OK) for d in (1.0, 9.0, 9.0, 9.5)])
    await runs(store, "far", far, [(hour(6), 30.0, OK), (hour(6), 40.0, OK)])
    await runs(store, "untimed", untimed, [(hour(7), 500.0, OK), (hour(8), 3.0, OK)])
    await runs(store, "untimed", untimed, [(hour(23), 3.0, OK), (hour(22), 3.0, OK)])
    # Outside the range: counts nowhere.
    await runs(store, "far", far, [(NOW - timedelta(days=5), 99.0, FAILED)])

    found = await analytics.insights(NOW - timedelta(days=2), NOW)
    assert [s.task_name for s in found.always_failing] == ["failing"]
    assert [(s.task_name, limit) for s, limit in found.near_timeout] == [("near", 10.0)]
    # Read from the rollups' buckets: within one bucket (√2) of the exact figure.
    assert found.near_timeout[0][0].p95_duration_seconds == pytest.approx(9.425, rel=0.42)
    # Hours by runs, ties by hour: 3 has 5 runs, 5 has 4, then 6 with 2, then 4 and 7 with 1.
    assert found.busiest_hours == [(3, 5), (5, 4), (6, 2), (4, 1), (7, 1)]
    assert [s.task_name for s in found.slowest] == [
        "untimed",
        "far",
        "near",
        "failing",
        "failed-once",
    ]
    by_name = {s.task_name: s for s in await analytics.metrics(NOW - timedelta(days=2), NOW)}
    assert by_name["untimed"].p95_duration_seconds == pytest.approx(500 - 0.15 * 497, rel=0.42)
    assert by_name["skipped-only"].runs == 3 and by_name["skipped-only"].failed == 0


async def heartbeat(
    store: SqlStore,
    pid: int,
    role: str,
    seconds_ago: float,
    *,
    stopped: bool = False,
    now: datetime = NOW,
) -> None:
    beat = now - timedelta(seconds=seconds_ago)
    await store.heartbeat(
        ProcessorInfo(
            id=f"p{pid}",
            role=role,
            host="h",
            pid=pid,
            version="1",
            started_at=at(-3600),
            heartbeat_at=beat,
            stopped_at=beat if stopped else None,
        )
    )


async def health_of(analytics: Analytics, **kw: float) -> tuple[str, list[str]]:
    health = await analytics.health(heartbeat_interval_seconds=HEARTBEAT, **kw)
    assert health.checked_at == analytics.clock.now()
    return health.status, health.reasons


async def test_health_healthy_then_degraded_by_expired_leases(
    analytics: Analytics, store: SqlStore, clock: FakeClock
) -> None:
    await heartbeat(store, 1, "scheduler+worker", 1)
    await heartbeat(store, 2, "scheduler", 2)
    await heartbeat(store, 3, "worker", 600, stopped=True)
    health = await analytics.health(heartbeat_interval_seconds=HEARTBEAT)
    assert (health.status, health.reasons) == (HEALTHY, [])
    assert health.processors == {"running": 2, "stopped": 1}
    assert health.queue is not None and health.queue.due_now == 0

    await define(store, "t")
    await store.enqueue([NewJob("t", NOW, TriggeredBy.API)], NOW)
    await store.claim("p1", 5, NOW, 30.0)
    later = clock.advance(60)
    await heartbeat(store, 1, "scheduler+worker", 1, now=later)
    await heartbeat(store, 2, "scheduler", 1, now=later)
    status, reasons = await health_of(analytics)
    assert status == DEGRADED
    assert reasons == [
        "1 running job(s) with an expired lease (their worker likely died; the reaper takes"
        " them back)"
    ]


async def test_health_lost_processors_and_no_live_worker(
    analytics: Analytics, store: SqlStore
) -> None:
    await heartbeat(store, 1, "worker", 3 * HEARTBEAT + 1)  # lost
    await heartbeat(store, 2, "scheduler", 1)
    status, reasons = await health_of(analytics)
    assert status == DEGRADED
    assert reasons == ["1 processor(s) lost (no heartbeat for 15s)"]

    await define(store, "t")
    await store.enqueue([NewJob("t", at(-1), TriggeredBy.API)], NOW)
    status, reasons = await health_of(analytics)
    assert status == UNHEALTHY
    assert reasons[0] == "no live worker while 1 job(s) are due"
    assert reasons[1:] == ["1 processor(s) lost (no heartbeat for 15s)"]

    await heartbeat(store, 3, "worker", 0)
    assert await health_of(analytics) == (
        DEGRADED,
        ["1 processor(s) lost (no heartbeat for 15s)"],
    )


async def test_health_backlog_and_pause(analytics: Analytics, store: SqlStore) -> None:
    await heartbeat(store, 1, "scheduler+worker", 0)
    await define(store, "t")
    await store.enqueue([NewJob("t", at(-600), TriggeredBy.API)], NOW)
    assert (await health_of(analytics, backlog_warn_seconds=900))[0] == HEALTHY
    status, reasons = await health_of(analytics, backlog_warn_seconds=300)
    assert (status, reasons) == (
        DEGRADED,
        ["1 due job(s) waiting, the oldest for 10m (more than 5m)"],
    )

    await store.set_control(ControlState(paused=True, updated_at=NOW, updated_by="bob"))
    status, reasons = await health_of(analytics, backlog_warn_seconds=900)
    assert (status, reasons) == (DEGRADED, ["processing paused by bob"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A store whose database cannot be reached: a SQLite file in a directory that is gone,
    or a PostgreSQL server on a port where nothing listens."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gone' / 'tickwork.db'}"
    else:
        request.getfixturevalue("pg_base_url")  # skips like every PostgreSQL test
        url = "postgresql://postgres@127.0.0.1:1/test"
    store = create_store(url)
    await store.open()
    yield store
    await store.close()


async def test_health_unhealthy_when_the_store_is_unreachable(
    unreachable: SqlStore, clock: FakeClock
) -> None:
    health = await Analytics(Context(unreachable, clock=clock)).health(heartbeat_interval_seconds=5)
    assert health.status == UNHEALTHY
    assert health.queue is None and health.processors == {}
    [reason] = health.reasons
    assert reason.startswith("store unreachable: ")
    assert health.checked_at == NOW
