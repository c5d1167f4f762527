"""Retention on both backends: exactly what the policy says goes, never a pending or running
job, dry runs count the same rows, batches stay bounded, and one pass at a time."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.store import retention_rows as rr
from tests.store.retention_rows import NOW, days_ago
from tickwork.clock import FakeClock
from tickwork.domain.retention import RetentionPolicy, TaskRetention
from tickwork.runtime.pruner import Pruner
from tickwork.store import SqlStore, create_store
from tickwork.store import schema as s
from tickwork.store import schema_alerting as n

POLICY = RetentionPolicy(
    runs_days=30,
    keep_last_runs=2,
    events_days=10,
    audit_days=100,
    missed_fires_days=20,
    rollup_minutes_days=2,
    rollup_hours_days=50,
    tasks={
        "keep": TaskRetention(runs_days=0),  # forever
        "short": TaskRetention(runs_days=5, keep_last_runs=0),
    },
    pause_seconds=0,
)
EXPECTED = {
    "runs": 4,
    "run_events": 3,
    "jobs": 5,
    "audit": 1,
    "missed_fires": 1,
    "minute_rollups": 1,
    "hour_rollups": 1,
    "minute_series_rollups": 1,
    "hour_series_rollups": 1,
    "key_rollups": 1,
    "error_rollups": 1,
    "alert_transitions": 0,
    "check_pings": 0,
    "check_hours": 0,
}


def seed(engine: sa.Engine) -> None:
    jobs = [
        # Task "a" keeps its newest 2 runs; runs older than 30 days go, and their jobs.
        *(rr.job(i, "a", "succeeded", d) for i, d in ((1, 60), (2, 50), (3, 40), (4, 20), (5, 1))),
        rr.job(6, "a", "retrying", None),  # active: its old run stays
        rr.job(7, "a", "running", None),
        rr.job(8, "a", "available", None),
        rr.job(9, "a", "scheduled", None),
        rr.job(10, "keep", "succeeded", 300),  # kept forever
        rr.job(20, "short", "failed", 6),
        rr.job(21, "short", "succeeded", 4),
        rr.job(30, "norun", "cancelled", 40),  # no runs: goes by its finish time
        rr.job(31, "norun", "cancelled", 10),
        rr.job(41, "lonely", "succeeded", 40),  # its one run is among the newest 2: both stay
    ]
    runs = [
        *(rr.run(i, i, "a", d) for i, d in ((1, 60), (2, 50), (3, 40), (4, 20), (5, 1))),
        rr.run(6, 6, "a", 70),
        rr.run(10, 10, "keep", 300),
        rr.run(20, 20, "short", 6),
        rr.run(21, 21, "short", 4),
        rr.run(41, 41, "lonely", 40),
    ]
    events = [
        rr.event(1, 1, "a", 1),  # recent, but its job goes
        rr.event(2, 4, "a", 15),  # old
        rr.event(3, 5, "a", 1),
        rr.event(4, 6, "a", 20),  # old (its job is active: events go by age all the same)
        rr.event(5, 41, "lonely", 1),
    ]
    rr.insert(engine, s.jobs, jobs)
    rr.insert(engine, s.runs, runs)
    rr.insert(engine, s.run_events, events)
    rr.insert(engine, s.audit, [rr.audit(1001, 200), rr.audit(1002, 50)])
    rr.insert(engine, s.missed_fires, [rr.missed(1, 30), rr.missed(2, 10)])
    epoch = days_ago(0).replace(year=1970, month=1, day=1)
    rr.insert(
        engine,
        s.rollups,
        [
            rr.rollup(60, days_ago(3)),
            rr.rollup(60, days_ago(1)),
            rr.rollup(3600, days_ago(60)),
            rr.rollup(3600, days_ago(10)),
            rr.rollup(0, epoch),  # all time: never pruned
        ],
    )
    rr.insert(
        engine,
        s.series_rollups,
        [
            rr.series_rollup(60, days_ago(3)),
            rr.series_rollup(60, days_ago(1)),
            rr.series_rollup(3600, days_ago(60)),
            rr.series_rollup(3600, days_ago(10)),
            rr.series_rollup(86400, days_ago(300)),  # day rows: never pruned
        ],
    )
    old_day = days_ago(300)
    rr.insert(
        engine,
        s.key_rollups,
        [rr.key_rollup(days_ago(60)), rr.key_rollup(days_ago(10)), rr.key_rollup(old_day, 86400)],
    )
    rr.insert(
        engine,
        s.error_rollups,
        [
            rr.error_rollup(days_ago(60)),
            rr.error_rollup(days_ago(10)),
            rr.error_rollup(old_day, 86400),
        ],
    )


def pruner(store: SqlStore, policy: RetentionPolicy = POLICY) -> Pruner:
    return Pruner(store, policy, clock=FakeClock(NOW))


async def test_prune_removes_exactly_what_the_policy_says(store: SqlStore) -> None:
    seed(store.engine)
    dry = await pruner(store).prune(dry_run=True)
    assert dry.counts == EXPECTED and dry.dry_run and not dry.skipped
    assert rr.count(store.engine, s.runs) == 10  # a dry run removes nothing
    assert rr.count(store.engine, s.jobs) == 15

    report = await pruner(store).prune()
    assert report.counts == EXPECTED  # the dry run's counts were the real ones
    e = store.engine
    assert rr.ids(e, s.runs) == {4, 5, 6, 10, 21, 41}
    assert rr.ids(e, s.jobs) == {4, 5, 6, 7, 8, 9, 10, 21, 31, 41}
    assert rr.ids(e, s.run_events) == {3, 5}
    assert rr.ids(e, s.audit) == {1002}
    assert rr.ids(e, s.missed_fires) == {2}
    assert rr.bucket_starts(e, s.rollups, s.rollups.c.period_seconds == 60) == {days_ago(1)}
    assert rr.bucket_starts(e, s.rollups, s.rollups.c.period_seconds == 3600) == {days_ago(10)}
    assert rr.count(e, s.rollups) == 3  # the all-time row stays
    series = s.series_rollups
    assert rr.bucket_starts(e, series, series.c.period_seconds == 60) == {days_ago(1)}
    assert rr.bucket_starts(e, series, series.c.period_seconds == 3600) == {days_ago(10)}
    assert rr.bucket_starts(e, series, series.c.period_seconds == 86400) == {days_ago(300)}
    assert rr.bucket_starts(e, s.key_rollups) == {days_ago(10), days_ago(300)}
    assert rr.bucket_starts(e, s.error_rollups) == {days_ago(10), days_ago(300)}

    again = await pruner(store).prune()
    assert again.total == 0


async def test_pending_and_running_jobs_are_never_pruned(store: SqlStore) -> None:
    states = ("scheduled", "available", "retrying", "running")
    rr.insert(store.engine, s.jobs, [rr.job(i, "a", st, 400) for i, st in enumerate(states, 1)])
    rr.insert(store.engine, s.runs, [rr.run(i, i, "a", 400) for i in range(1, 5)])
    policy = RetentionPolicy(runs_days=0.001, keep_last_runs=0, pause_seconds=0)
    report = await pruner(store, policy).prune()
    assert report.counts["runs"] == 0 and report.counts["jobs"] == 0
    assert rr.ids(store.engine, s.jobs) == {1, 2, 3, 4}
    assert rr.ids(store.engine, s.runs) == {1, 2, 3, 4}


async def test_a_finished_job_stays_while_one_of_its_runs_is_kept(store: SqlStore) -> None:
    # Job 1 finished long ago; its second attempt is among the newest runs of its task.
    rr.insert(store.engine, s.jobs, [rr.job(1, "a", "failed", 90), rr.job(2, "a", "failed", 95)])
    rr.insert(
        store.engine,
        s.runs,
        [rr.run(1, 1, "a", 100), rr.run(2, 1, "a", 90), rr.run(3, 2, "a", 95)],
    )
    policy = RetentionPolicy(runs_days=30, keep_last_runs=1, pause_seconds=0)
    report = await pruner(store, policy).prune()
    assert report.counts["runs"] == 2 and report.counts["jobs"] == 1
    assert rr.ids(store.engine, s.runs) == {2}
    assert rr.ids(store.engine, s.jobs) == {1}


async def test_batches_are_bounded(store: SqlStore) -> None:
    rr.insert(store.engine, s.jobs, [rr.job(i, "a", "succeeded", 100) for i in range(1, 12)])
    rr.insert(store.engine, s.runs, [rr.run(i, i, "a", 100) for i in range(1, 12)])
    # batch_seconds 0: always 3 rows, however long a batch takes on this machine.
    policy = RetentionPolicy(keep_last_runs=0, batch_size=3, pause_seconds=0, batch_seconds=0)
    (target,) = [t for t in await store.prune_targets(policy, NOW) if t.step == "runs"]
    assert await store.count_prunable(target) == {"runs": 11}
    # One transaction removes at most the limit.
    assert await store.prune_batch(target, 3) == {"runs": 3}
    assert rr.count(store.engine, s.runs) == 8

    others = len(await store.prune_targets(policy, NOW)) - 2
    report = await pruner(store, policy).prune()
    assert report.counts["runs"] == 8 and report.counts["jobs"] == 11
    # runs: 3+3+2; task a's jobs: 3+3+3+2; every other step: one batch that finds nothing.
    assert report.batches == 3 + 4 + others


async def test_sqlite_batches_shrink_when_slower_than_batch_time(store: SqlStore) -> None:
    rr.insert(store.engine, s.runs, [rr.run(i, i, "a", 100) for i in range(1, 501)])
    # Every batch takes longer than a nanosecond: on SQLite each halves the next, down to 50.
    policy = RetentionPolicy(keep_last_runs=0, batch_size=200, batch_seconds=1e-9, pause_seconds=0)
    others = len(await store.prune_targets(policy, NOW)) - 1
    report = await pruner(store, policy).prune()
    assert report.counts["runs"] == 500
    if store.dialect == "sqlite":  # 200, 100, 50, 50, 50, 50, then one that finds none
        assert report.batches - others == 7
    else:  # PostgreSQL's batches lock only their rows: always 200 (200, 200, 100)
        assert report.batches - others == 3


async def test_one_pass_at_a_time_in_a_process(store: SqlStore) -> None:
    lock = await store.lock_pruning()
    assert lock is not None
    assert await store.lock_pruning() is None
    skipped = await pruner(store).prune()
    assert skipped.skipped and skipped.counts == {}
    await lock.release()
    await lock.release()  # twice is harmless
    again = await store.lock_pruning()
    assert again is not None
    await again.release()


@pytest.mark.postgres
async def test_two_processes_on_postgresql_only_one_prunes(pg_url: str) -> None:
    first, second = create_store(pg_url), create_store(pg_url)
    await first.open()
    await second.open()
    try:
        seed(first.engine)
        held = await first.lock_pruning()
        assert held is not None
        report = await pruner(second).prune()  # another process holds the lock: skipped
        assert report.skipped and rr.count(second.engine, s.runs) == 10
        await held.release()
        report = await pruner(second).prune()
        assert not report.skipped and report.counts == EXPECTED
    finally:
        await first.close()
        await second.close()


async def test_alert_transitions_go_by_age_but_never_an_open_incidents(store: SqlStore) -> None:
    e = store.engine
    rr.insert(
        e,
        n.alert_transitions,
        [
            # task:a: an old incident, over (1, 2); a new one firing for 400 days (3), acked (4).
            rr.transition(1, "r", "task:a", 700),
            rr.transition(2, "r", "task:a", 690, to="ok"),
            rr.transition(3, "r", "task:a", 400),
            rr.transition(4, "r", "task:a", 300, to="firing"),
            # task:b: fired and recovered long ago, fired again 10 days ago (7).
            rr.transition(5, "r", "task:b", 500),
            rr.transition(6, "r", "task:b", 499, to="ok"),
            rr.transition(7, "r", "task:b", 10),
            # task:c: flapping: receivers were told it fires since 250 days, its status
            # changed last 5 days ago; everything since 250 days stays.
            rr.transition(8, "r", "task:c", 260),
            rr.transition(9, "r", "task:c", 250),
            rr.transition(10, "r", "task:c", 5),
            # task:d: over, its state ok.
            rr.transition(11, "r", "task:d", 300),
            rr.transition(12, "r", "task:d", 299, to="ok"),
        ],
    )
    rr.insert(
        e,
        n.alert_states,
        [
            rr.alert_state("r", "task:a", "firing", 400, 400),
            rr.alert_state("r", "task:b", "firing", 10, 10),
            rr.alert_state("r", "task:c", "firing", 5, 250),
            rr.alert_state("r", "task:d", "ok", 299),
        ],
    )
    policy = RetentionPolicy(alerts_days=180, pings_days=0, pause_seconds=0)
    dry = await pruner(store, policy).prune(dry_run=True)
    assert dry.counts["alert_transitions"] == 7 and rr.count(e, n.alert_transitions) == 12
    report = await pruner(store, policy).prune()
    assert report.counts["alert_transitions"] == 7
    assert rr.ids(e, n.alert_transitions) == {3, 4, 7, 9, 10}
    assert rr.count(e, n.alert_states) == 4  # states are not retention's


async def test_pings_go_by_age_keeping_each_checks_newest(store: SqlStore) -> None:
    e = store.engine
    # Check a: 6 pings 100..50 days old and 2 new ones; check b: 2 old pings only; check c:
    # 3 old pings.
    rr.insert(
        e,
        n.check_pings,
        [
            *(rr.ping(i, "a", 110 - 10 * i) for i in range(1, 7)),
            rr.ping(7, "a", 5),
            rr.ping(8, "a", 1),
            rr.ping(9, "b", 90),
            rr.ping(10, "b", 80),
            rr.ping(11, "c", 90),
            rr.ping(12, "c", 80),
            rr.ping(13, "c", 70),
        ],
    )
    policy = RetentionPolicy(pings_days=30, keep_last_pings=3, pause_seconds=0)
    dry = await pruner(store, policy).prune(dry_run=True)
    # a: its 6 old ones but the newest of them (3 newest kept: 6, 7, 8); b: none (2 <= 3);
    # c: none (3 <= 3).
    assert dry.counts["check_pings"] == 5
    report = await pruner(store, policy).prune()
    assert report.counts["check_pings"] == 5
    assert rr.ids(e, n.check_pings) == {6, 7, 8, 9, 10, 11, 12, 13}

    none_kept = RetentionPolicy(pings_days=30, keep_last_pings=0, pause_seconds=0)
    assert (await pruner(store, none_kept).prune()).counts["check_pings"] == 6
    assert rr.ids(e, n.check_pings) == {7, 8}


async def test_ping_batches_are_bounded(store: SqlStore) -> None:
    rr.insert(store.engine, n.check_pings, [rr.ping(i, f"c{i % 3}", 100) for i in range(1, 31)])
    policy = RetentionPolicy(pings_days=30, keep_last_pings=2, pause_seconds=0)
    # One step per check, each bounded by its own oldest kept ping.
    found = [t for t in await store.prune_targets(policy, NOW) if t.step == "check_pings"]
    assert [t.check_uuid for t in found] == ["c0", "c1", "c2"]
    assert [(await store.count_prunable(t))["check_pings"] for t in found] == [8, 8, 8]
    assert await store.prune_batch(found[0], 7) == {"check_pings": 7}
    assert rr.count(store.engine, n.check_pings) == 23


async def test_kept_check_hours_go_with_the_pings_of_their_age(store: SqlStore) -> None:
    parts = {f"{part}_seconds": 0.0 for part in n.CHECK_HOUR_PARTS}
    rr.insert(
        store.engine,
        n.check_hours,
        [{"check_uuid": "a", "hour": days_ago(d), **parts} for d in (40, 31, 29, 1)],
    )
    policy = RetentionPolicy(pings_days=30, pause_seconds=0)
    assert (await pruner(store, policy).prune()).counts["check_hours"] == 2
    with store.engine.connect() as conn:
        left = conn.execute(sa.select(n.check_hours.c.hour)).scalars().all()
    assert sorted(left) == [days_ago(29), days_ago(1)]
