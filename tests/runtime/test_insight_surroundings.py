"""The findings insights make of what they read besides the rollups — due jobs, processors,
the run-time control, missed fires, since when failing tasks fail — read in one
(``Store.insight_surroundings``), on both backends: the read agrees with each of the store's
own reads, and the findings that need it come out."""

from __future__ import annotations

from datetime import timedelta

from tests.runtime.test_analytics import NOW, at, define, heartbeat
from tests.store.test_rollups_store import completion
from tickwork.clock import FakeClock
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.jobs import NewJob, RunStatus, TriggeredBy
from tickwork.service.analytics import Analytics
from tickwork.service.context import Context
from tickwork.service.queries import ControlState
from tickwork.store import SqlStore

START = NOW - timedelta(days=1)


async def test_one_read_agrees_and_the_findings_come_out(store: SqlStore) -> None:
    busy, broken = await define(store, "busy"), await define(store, "broken")
    # 20 runs of an hour each (a day's worth of one slot, 83 %), waiting 30 s each.
    await store.complete(
        [
            completion(
                busy, "busy", START + timedelta(hours=h), 3600.0, RunStatus.SUCCEEDED, wait=30.0
            )
            for h in range(20)
        ]
    )
    await store.complete(
        [
            completion(broken, "broken", START + timedelta(hours=h), 1.0, RunStatus.FAILED)
            for h in (2, 5)
        ]
    )
    await store.add_missed_fires(
        [
            NewMissedFire("busy", START + timedelta(hours=h, minutes=30), MissedReason.MISFIRE)
            for h in range(5)
        ],
        NOW,
    )
    await store.enqueue(
        [NewJob(task_name="busy", scheduled_at=at(-600), triggered_by=TriggeredBy.SCHEDULER)],
        NOW,
    )
    await heartbeat(store, 1, "worker", 1.0)
    await heartbeat(store, 2, "scheduler", 1.0)
    await store.set_control(ControlState(max_concurrent_jobs=1, updated_at=NOW))

    around = await store.insight_surroundings(NOW, ["broken"], START, NOW)
    queue = await store.queue_stats(NOW, finished=False)
    assert (around.due_now, around.oldest_due_at) == (queue.due_now, queue.oldest_due_at)
    assert around.due_now == 1 and around.oldest_due_at == at(-600)
    assert around.processors == await store.list_processors()
    assert len(around.processors) == 2
    assert around.max_concurrent_jobs == (await store.get_control()).max_concurrent_jobs == 1
    assert around.missed == await store.missed_fire_counts(START, NOW) == {"busy": {"misfire": 5}}
    assert around.failing_since == await store.failing_since(["broken"])
    assert set(around.failing_since) == {"broken"}
    assert (await store.insight_surroundings(NOW, [], START, NOW)).failing_since == {}

    found = await Analytics(Context(store, clock=FakeClock(NOW))).insights(START, NOW)
    rules = {(f.rule, f.task) for f in found.findings}
    assert {
        ("always_failing", "broken"),
        ("growing_backlog", None),
        ("saturated_slots", None),
        ("missed_fires", "busy"),
    } <= rules
    [backlog] = [f for f in found.findings if f.rule == "growing_backlog"]
    assert backlog.evidence["due_now"] == 1 and backlog.evidence["oldest_wait_seconds"] == 600
    [saturated] = [f for f in found.findings if f.rule == "saturated_slots"]
    assert saturated.evidence["slots"] == 1
