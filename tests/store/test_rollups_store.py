"""Rollups kept by real completions and interrupted runs, on both backends: they match the runs
recorded, and figures read from their buckets match an exact computation over the same runs
within one bucket's resolution."""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tickwork.domain.histogram import bucket_of
from tickwork.domain.jobs import (
    Completion,
    ErrorClass,
    JobState,
    NewJob,
    Outcome,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.stats import (
    DAY,
    HOUR,
    LIFETIME,
    MINUTE,
    RollupQuery,
    error_groups,
    key_figures,
    task_figures,
    trend,
)
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.store import SqlStore, create_store
from tickwork.store.schema import error_rollups, key_rollups, rollups, series_rollups

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RATIO = math.sqrt(2)  # one bucket of ``domain.histogram``


async def make_job(store: SqlStore, name: str) -> int:
    await store.add_missing_tasks(
        [TaskDefinition(name=name, target=HttpTarget(f"https://e.com/{name}"))], {}, NOW
    )
    [job_id] = await store.enqueue(
        [
            NewJob(
                task_name=name, scheduled_at=NOW + timedelta(days=30), triggered_by=TriggeredBy.API
            )
        ],
        NOW,
    )
    return job_id


def completion(
    job_id: int,
    name: str,
    started: datetime,
    seconds: float,
    status: RunStatus,
    *,
    wait: float | None = 0.0,
    key: str | None = None,
    message: str = "boom",
    traceback: str | None = None,
) -> Completion:
    if status in (RunStatus.FAILED, RunStatus.TIMEOUT):
        outcome = Outcome(
            status,
            error_type="Boom" if status is RunStatus.FAILED else "Timeout",
            error_class=ErrorClass.NETWORK if status is RunStatus.FAILED else ErrorClass.TIMEOUT,
            error_message=message,
            traceback=traceback,
        )
    else:
        outcome = Outcome(status)
    return Completion(
        job_id=job_id,
        task_name=name,
        attempt=1,
        triggered_by=TriggeredBy.SCHEDULER,
        worker_id="w",
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        outcome=outcome,
        next_state=JobState.SUCCEEDED,
        due_at=None if wait is None else started - timedelta(seconds=wait),
        key=key,
    )


def hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def rows(store: SqlStore, table: sa.Table) -> list[sa.Row[object]]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


async def test_completions_write_rollups_that_match_their_runs(store: SqlStore) -> None:
    job = await make_job(store, "a")
    tb = (
        "Traceback (most recent call last):\n"
        '  File "/app/site-packages/lib/x.py", line 3, in go\n    raise Boom\n'
    )
    batch = [
        completion(job, "a", NOW, 0.4, RunStatus.SUCCEEDED, wait=1.6, key="k1"),
        completion(
            job, "a", NOW + timedelta(seconds=5), 0.42, RunStatus.SUCCEEDED, wait=1.9, key="k1"
        ),
        completion(
            job,
            "a",
            NOW + timedelta(minutes=1),
            3.0,
            RunStatus.FAILED,
            key="k2",
            message="user 42 not found",
            traceback=tb,
        ),
        completion(
            job,
            "a",
            NOW + timedelta(hours=1),
            3.0,
            RunStatus.FAILED,
            message="user 7 not found",
            traceback=tb,
        ),
        completion(job, "a", NOW + timedelta(hours=1), 9.0, RunStatus.TIMEOUT, wait=None),
    ]
    await store.complete(batch[:3])
    await store.complete(batch[3:])  # a second batch adds to the same rows

    found = {
        (r.period_seconds, r.bucket_start, r.measure, r.status, r.bucket): (r.count, r.total)
        for r in rows(store, rollups)
    }
    minute = NOW
    # Both successes fell in one minute and one bucket: one row counting 2, their seconds summed.
    assert found[(MINUTE, minute, "duration", "succeeded", bucket_of(0.4))] == (
        2,
        pytest.approx(0.82),
    )
    assert found[(HOUR, NOW, "duration", "failed", bucket_of(3.0))] == (1, pytest.approx(3.0))
    assert found[(HOUR, NOW + timedelta(hours=1), "duration", "failed", bucket_of(3.0))] == (
        1,
        pytest.approx(3.0),
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert found[(LIFETIME, epoch, "duration", "failed", bucket_of(3.0))] == (2, pytest.approx(6.0))
    assert found[(LIFETIME, epoch, "wait", "", bucket_of(1.6))] == (2, pytest.approx(3.5))
    # Each period counts every run once; the timeout without a due time has no wait.
    for period in (MINUTE, HOUR, DAY, LIFETIME):
        durations = sum(
            n for (p, _, m, _, _), (n, _) in found.items() if p == period and m == "duration"
        )
        waits = sum(n for (p, _, m, _, _), (n, _) in found.items() if p == period and m == "wait")
        assert (durations, waits) == (5, 4)

    # Series rows: runs by status per minute, hour and day, without the histogram buckets.
    series = {
        (r.period_seconds, r.bucket_start, r.status): (r.count, r.total)
        for r in rows(store, series_rollups)
    }
    day = NOW.replace(hour=0)
    assert series[(MINUTE, NOW, "succeeded")] == (2, pytest.approx(0.82))
    assert series[(HOUR, NOW + timedelta(hours=1), "failed")] == (1, pytest.approx(3.0))
    assert series[(DAY, day, "failed")] == (2, pytest.approx(6.0))
    assert series[(DAY, day, "timeout")] == (1, pytest.approx(9.0))
    for period in (MINUTE, HOUR, DAY):
        assert sum(n for (p, _, _), (n, _) in series.items() if p == period) == 5

    keys = {
        (r.period_seconds, r.key, r.bucket_start, r.status): r.count
        for r in rows(store, key_rollups)
    }
    assert keys == {
        (HOUR, "k1", NOW, "succeeded"): 2,
        (HOUR, "k2", NOW, "failed"): 1,
        (DAY, "k1", day, "succeeded"): 2,
        (DAY, "k2", day, "failed"): 1,
    }

    all_errors = rows(store, error_rollups)
    days = sorted(
        (r.bucket_start, r.error_type, r.count) for r in all_errors if r.period_seconds == DAY
    )
    assert days == [(day, "Boom", 2), (day, "Timeout", 1)]
    errors = [r for r in all_errors if r.period_seconds == HOUR]
    # "user 42" and "user 7" at the same frame are one error, once per hour; the timeout another.
    by_hour = sorted((r.bucket_start, r.error_type, r.count, r.frame) for r in errors)
    assert by_hour == [
        (NOW, "Boom", 1, "lib/x.py:go"),
        (NOW + timedelta(hours=1), "Boom", 1, "lib/x.py:go"),
        (NOW + timedelta(hours=1), "Timeout", 1, None),
    ]
    assert len({r.fingerprint for r in errors}) == 2
    # Each row keeps the first message it saw as its sample.
    samples = {r.message for r in errors if r.error_type == "Boom"}
    assert samples == {"user 42 not found", "user 7 not found"}


async def test_interrupted_runs_are_rolled_up(store: SqlStore) -> None:
    job = await make_job(store, "a")
    await store.reschedule_job(job, NOW - timedelta(seconds=30), NOW)
    [claimed] = await store.claim("w", 1, NOW, lease_seconds=10)
    assert claimed.key is None
    later = NOW + timedelta(seconds=20)
    assert len(await store.recover_expired(later, "lease expired")) == 1
    found = {
        (r.period_seconds, r.measure, r.status, r.bucket): r.count for r in rows(store, rollups)
    }
    assert found[(HOUR, "duration", "interrupted", bucket_of(20.0))] == 1
    assert found[(LIFETIME, "wait", "", bucket_of(30.0))] == 1


async def test_figures_from_buckets_match_an_exact_computation(store: SqlStore) -> None:
    rand = random.Random(7)
    statuses = [RunStatus.SUCCEEDED] * 7 + [RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.SKIPPED]
    names = ["alpha", "beta"]
    jobs = {n: await make_job(store, n) for n in names}
    runs: list[Completion] = []
    for i in range(600):
        name = names[i % 2]
        scale = 0.2 if name == "alpha" else 30.0
        runs.append(
            completion(
                jobs[name],
                name,
                NOW + timedelta(seconds=rand.uniform(0, 2 * 86400)),
                rand.lognormvariate(0, 1) * scale,
                rand.choice(statuses),
                wait=rand.expovariate(1.0),
                key=rand.choice(["x", "y", "z", None]),
                message=f"failed after {i} tries",
            )
        )
    for start in range(0, len(runs), 64):
        await store.complete(runs[start : start + 64])

    start, end = NOW, NOW + timedelta(days=2)
    data = await store.read_rollups(RollupQuery(start, end, HOUR))
    figures = {f.task_name: f for f in task_figures(data.histograms)}
    timed = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMEOUT}
    for name in names:
        mine = [c for c in runs if c.task_name == name]
        f = figures[name]
        assert f.runs == len(mine)
        assert f.succeeded == sum(c.outcome.status is RunStatus.SUCCEEDED for c in mine)
        assert f.failed == sum(
            c.outcome.status in (RunStatus.FAILED, RunStatus.TIMEOUT) for c in mine
        )
        durations = sorted(
            (c.finished_at - c.started_at).total_seconds()
            for c in mine
            if c.outcome.status in timed
        )
        assert f.durations.avg == pytest.approx(sum(durations) / len(durations))
        for q in (0.5, 0.95, 0.99):
            exact = durations[min(len(durations) - 1, math.ceil(q * len(durations)) - 1)]
            got = f.durations.quantile(q)
            assert got is not None and exact / RATIO <= got <= exact * RATIO, (name, q, got, exact)
        assert durations[-1] <= (f.durations.max or 0) <= durations[-1] * RATIO
        waits = sorted(
            (c.started_at - c.due_at).total_seconds() for c in mine if c.due_at is not None
        )
        for q in (0.5, 0.95):
            exact = waits[min(len(waits) - 1, math.ceil(q * len(waits)) - 1)]
            got = f.waits.quantile(q)
            assert got is not None and exact / RATIO <= got <= exact * RATIO
        # Slow runs: between the exact counts above the threshold's bucket edges.
        threshold = f.slow_threshold_seconds
        assert threshold is not None
        low, high = threshold / RATIO, threshold * RATIO
        assert sum(d > high for d in durations) <= f.slow_runs <= sum(d > low for d in durations)

    daily = trend(data.series, timedelta(days=1))
    assert [p.runs for p in daily] == [
        sum(1 for c in runs if c.started_at.date() == day.date())
        for day in (p.start for p in daily)
    ]
    assert sum(p.runs for p in daily) == len(runs)
    keys = {(k.task_name, k.key): k for k in key_figures(data.keys)}
    for (name, key), k in keys.items():
        mine = [c for c in runs if c.task_name == name and c.key == key]
        assert k.runs == len(mine)
        assert k.succeeded == sum(c.outcome.status is RunStatus.SUCCEEDED for c in mine)
    # "failed after N tries" is one fingerprint per error type and task.
    groups = error_groups(data.errors)
    assert sum(g.count for g in groups) == sum(
        c.outcome.status in (RunStatus.FAILED, RunStatus.TIMEOUT) for c in runs
    )
    assert len(groups) == 4

    # A short range is read from minute rows, widened to whole minutes.
    short = await store.read_rollups(
        RollupQuery(NOW, NOW + timedelta(hours=1), MINUTE, tasks=("alpha",))
    )
    in_hour = [
        c for c in runs if c.task_name == "alpha" and c.started_at < NOW + timedelta(hours=1)
    ]
    assert sum(s.count for s in short.series) == len(in_hour)
    # A key filter: counts of that key only.
    keyed = await store.read_rollups(RollupQuery(start, end, HOUR, key="x"))
    assert sum(s.count for s in keyed.series) == sum(c.key == "x" for c in runs)
    assert keyed.histograms == []


async def test_ranges_of_days_read_day_rows_with_the_same_sums(store: SqlStore) -> None:
    """Per-key and error counts of a range not on day boundaries: its whole days come from day
    rows, the hours around them from hour rows; the sums are those of the runs in its hours."""
    rand = random.Random(11)
    job = await make_job(store, "a")
    runs = [
        completion(
            job,
            "a",
            NOW + timedelta(seconds=rand.uniform(-3 * 86400, 3 * 86400)),
            1.0,
            rand.choice([RunStatus.SUCCEEDED, RunStatus.FAILED]),
            key=rand.choice(["x", "y"]),
            message=f"user {i} not found",
        )
        for i in range(400)
    ]
    for start in range(0, len(runs), 50):
        await store.complete(runs[start : start + 50])
    for start, end in (
        (NOW - timedelta(days=2, hours=5, minutes=30), NOW + timedelta(hours=30, minutes=10)),
        (NOW - timedelta(days=3), NOW + timedelta(days=3)),
        (NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=1)),
        (NOW - timedelta(hours=7, minutes=1), NOW - timedelta(hours=1)),
    ):
        # Widened to the whole hours the range touches, as before there were day rows.
        mine = [c for c in runs if hour(start) <= hour(c.started_at) < end]
        data = await store.read_rollups(RollupQuery(start, end, DAY))
        assert sum(k.count for k in data.keys) == len(mine)
        for key in ("x", "y"):
            assert sum(k.count for k in data.keys if k.key == key) == sum(
                c.key == key for c in mine
            )
        [group] = error_groups(data.errors)
        assert group.count == sum(c.outcome.status is RunStatus.FAILED for c in mine)
        keyed = await store.read_rollups(RollupQuery(start, end, DAY, key="x"))
        assert sum(s.count for s in keyed.series) == sum(c.key == "x" for c in mine)
    # The first failed hour after the last success, from the hour series rows.
    latest = max(runs, key=lambda c: c.started_at)
    since = await store.failing_since(["a"])
    if latest.outcome.status is RunStatus.SUCCEEDED:
        assert since == {} or since["a"] >= latest.started_at.replace(
            minute=0, second=0, microsecond=0
        )
    later = latest.started_at + timedelta(hours=2)
    await store.complete([completion(job, "a", later, 1.0, RunStatus.FAILED)])
    await store.complete([completion(job, "a", later + timedelta(hours=3), 1.0, RunStatus.FAILED)])
    since = await store.failing_since(["a"])
    assert since == {"a": hour(later)}


async def test_concurrent_completions_lose_no_count(db_url: str) -> None:
    """Several stores (PostgreSQL: connections of their own) complete runs of one task in one
    minute and bucket at once: every run is counted."""
    n_stores, per_store, batch = (2, 40, 5) if db_url.startswith("sqlite") else (4, 60, 5)
    stores = [create_store(db_url) for _ in range(n_stores)]
    for s in stores:
        await s.open()
    try:
        job = await make_job(stores[0], "hot")

        async def work(s: SqlStore, offset: int) -> None:
            for i in range(0, per_store, batch):
                await s.complete(
                    [
                        completion(
                            job,
                            "hot",
                            NOW + timedelta(seconds=(offset + i + j) % 50),
                            1.0,
                            RunStatus.SUCCEEDED,
                            key="k",
                        )
                        for j in range(batch)
                    ]
                )

        await asyncio.gather(*(work(s, k * 7) for k, s in enumerate(stores)))
        total = n_stores * per_store
        data = await stores[0].read_rollups(RollupQuery(NOW, NOW + timedelta(minutes=1), MINUTE))
        [f] = task_figures(data.histograms)
        assert f.runs == total and f.waits.count == total
        assert sum(k.count for k in data.keys) == total
        with stores[0].engine.connect() as conn:
            lifetime = conn.execute(
                sa.select(sa.func.sum(rollups.c.count)).where(
                    rollups.c.period_seconds == LIFETIME, rollups.c.measure == "duration"
                )
            ).scalar()
        assert lifetime == total
    finally:
        for s in stores:
            await s.close()
