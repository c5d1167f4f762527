"""Run events and missed fires in the store, on both backends: order, paging, filters, counts,
and the link of a missed fire to the skipped job of its fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.activity import (
    MissedFireQuery,
    MissedReason,
    NewMissedFire,
    NewRunEvent,
    RunEventKind,
    RunEventQuery,
)
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.queries import JobQuery
from tickwork.store import SqlStore

T0 = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


async def test_run_events_in_order_paged_by_job_and_attempt(store: SqlStore) -> None:
    assert await store.latest_run_event_id() == 0
    rows = [
        NewRunEvent(
            job, attempt, "t", RunEventKind.EVENT, T0, f"{job}.{attempt}.{i}", data={"i": i}
        )
        for job, attempt in ((1, 1), (2, 1), (1, 2))
        for i in range(3)
    ] + [NewRunEvent(1, 2, "t", RunEventKind.PROGRESS, T0, done=2.5, total=None)]
    await store.add_run_events(rows)
    everything = await store.query_run_events(RunEventQuery(limit=100))
    assert [e.message for e in everything] == [r.message for r in rows]  # IDs in given order
    assert everything[0].at == T0 and everything[0].data == {"i": 0}
    assert everything[-1].kind is RunEventKind.PROGRESS and everything[-1].done == 2.5
    assert await store.latest_run_event_id() == everything[-1].id
    job1 = await store.query_run_events(RunEventQuery(job_id=1, limit=100))
    assert [e.message for e in job1] == ["1.1.0", "1.1.1", "1.1.2", "1.2.0", "1.2.1", "1.2.2", None]
    second = await store.query_run_events(RunEventQuery(job_id=1, attempt=2, limit=2))
    assert [e.message for e in second] == ["1.2.0", "1.2.1"]
    rest = await store.query_run_events(
        RunEventQuery(job_id=1, attempt=2, after_id=second[-1].id, limit=10)
    )
    assert [e.message for e in rest] == ["1.2.2", None]

    newest = await store.query_run_events(
        RunEventQuery(job_id=1, attempt=2, newest_first=True, limit=2)
    )
    assert [e.message for e in newest] == [None, "1.2.2"]
    progress = await store.query_run_events(
        RunEventQuery(job_id=1, kind=RunEventKind.PROGRESS, newest_first=True, limit=5)
    )
    assert [(e.attempt, e.done) for e in progress] == [(2, 2.5)]
    events = await store.query_run_events(
        RunEventQuery(job_id=1, attempt=1, kind=RunEventKind.EVENT, newest_first=True, limit=5)
    )
    assert [e.message for e in events] == ["1.1.2", "1.1.1", "1.1.0"]


async def test_missed_fires_filtered_paged_counted_and_linked(store: SqlStore) -> None:
    skipped_at = T0 + timedelta(minutes=1)
    await store.enqueue(
        [NewJob("a", skipped_at, TriggeredBy.SCHEDULER, fire_at=skipped_at, skip_reason="busy")],
        T0,
    )
    (job,) = await store.query_jobs(JobQuery())
    await store.add_missed_fires(
        [
            NewMissedFire("a", T0, MissedReason.MISFIRE, "late"),
            NewMissedFire("a", skipped_at, MissedReason.OVERLAP, "busy", skipped_job=True),
            NewMissedFire("b", T0, MissedReason.NO_SCHEDULER),
        ],
        T0,
    )
    later = T0 + timedelta(days=1)
    await store.add_missed_fires([NewMissedFire("a", later, MissedReason.PAUSED)], later)
    newest = await store.query_missed_fires(MissedFireQuery())
    assert [(m.task_name, m.reason) for m in newest] == [
        ("a", MissedReason.PAUSED),
        ("b", MissedReason.NO_SCHEDULER),
        ("a", MissedReason.OVERLAP),
        ("a", MissedReason.MISFIRE),
    ]
    linked = {m.reason: m.job_id for m in newest}
    assert linked[MissedReason.OVERLAP] == job.id and linked[MissedReason.MISFIRE] is None
    assert newest[-1].fire_at == T0 and newest[-1].detail == "late"
    page = await store.query_missed_fires(MissedFireQuery(before_id=newest[1].id, limit=1))
    assert page == [newest[2]]
    after = await store.query_missed_fires(MissedFireQuery(after_id=newest[2].id))
    assert after == [newest[1], newest[0]]  # oldest first
    since = await store.query_missed_fires(MissedFireQuery(task_name="a", since=later))
    assert [m.reason for m in since] == [MissedReason.PAUSED]
    reasons = (MissedReason.OVERLAP, MissedReason.PAUSED)
    assert len(await store.query_missed_fires(MissedFireQuery(reasons=reasons))) == 2
    counts = await store.count_missed_fires(MissedFireQuery())
    assert [(c.task_name, c.reason.value, c.count) for c in counts] == [
        ("a", "misfire", 1),
        ("a", "overlap", 1),
        ("a", "paused", 1),
        ("b", "no_scheduler", 1),
    ]
    assert counts[1].last_fire_at == skipped_at
    assert await store.count_missed_fires(MissedFireQuery(since=later + timedelta(1))) == []
