"""The jobs and missed fires of a range of fire times (``JobQuery``/``MissedFireQuery``
``fire_from``/``fire_to``, what explain reads), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.activity import MissedFireQuery, MissedReason, NewMissedFire
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import PythonTarget, TaskDefinition
from tickwork.store import SqlStore

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_jobs_and_missed_fires_by_fire_time(store: SqlStore) -> None:
    for name in ("a", "b"):
        defn = TaskDefinition(name=name, target=PythonTarget("json:dumps"), schedule="every 10m")
        await store.sync_tasks([defn], [], {name: at(0)}, at(0))
    fires = [NewJob("a", at(m), TriggeredBy.SCHEDULER, fire_at=at(m)) for m in (0, 10, 20, 30)]
    await store.enqueue([*fires, NewJob("a", at(15), TriggeredBy.API)], at(0))
    await store.enqueue([NewJob("b", at(10), TriggeredBy.SCHEDULER, fire_at=at(10))], at(0))
    found = await store.query_jobs(
        JobQuery(task_name="a", fire_from=at(10), fire_to=at(20), oldest_first=True)
    )
    assert [j.fire_at for j in found] == [at(10), at(20)]  # both ends; no manual job
    await store.add_missed_fires(
        [NewMissedFire("a", at(m), MissedReason.MISFIRE, "late") for m in (40, 50, 60)], at(70)
    )
    missed = await store.query_missed_fires(
        MissedFireQuery(task_name="a", fire_from=at(45), fire_to=at(60))
    )
    assert sorted(m.fire_at for m in missed) == [at(50), at(60)]
