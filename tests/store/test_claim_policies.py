"""Claims under policies, on both backends: the limits hold across concurrent claimers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from tickwork.domain.admission import ClaimRules
from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.domain.limits import OverlapPolicy, Policies, RateLimit
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import PythonTarget, TaskDefinition
from tickwork.store import SqlStore, create_store

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def define(store: SqlStore, name: str, policies: Policies) -> None:
    defn = TaskDefinition(name=name, target=PythonTarget("json:dumps"), policies=policies)
    await store.sync_tasks([defn], [], {}, T0)


def jobs_for(task: str, keys: list[str | None]) -> list[NewJob]:
    return [NewJob(task, T0, TriggeredBy.API, key=k) for k in keys]


async def running_by_key(store: SqlStore) -> Counter[str | None]:
    return Counter(
        j.key for j in await store.query_jobs(JobQuery(states=[JobState.RUNNING], limit=10_000))
    )


async def test_key_limit_from_rules_across_concurrent_claimers(
    store: SqlStore, db_url: str
) -> None:
    await define(store, "t", Policies())
    keys = [f"user-{i % 10}" for i in range(200)]
    await store.enqueue(jobs_for("t", keys), T0)
    others = [create_store(db_url) for _ in range(3)]
    rules = ClaimRules(key_limit=2)
    try:
        claimed = await asyncio.gather(
            *(s.claim(f"w{i}", 50, at(1), 60, rules=rules) for i, s in enumerate([store, *others]))
        )
    finally:
        for s in others:
            await s.close()
    total = [j for batch in claimed for j in batch]
    assert len(total) == 20  # 10 keys x 2
    assert max((await running_by_key(store)).values()) == 2


async def test_task_policies_are_read_from_the_store(store: SqlStore) -> None:
    await define(store, "one-per-key", Policies(key_limit=1))
    await define(store, "queued", Policies(overlap=OverlapPolicy.QUEUE))
    await store.enqueue(
        jobs_for("one-per-key", ["a", "a", "b"]) + jobs_for("queued", [None, None]), T0
    )
    first = await store.claim("w", 10, at(1), 60)
    assert sorted((j.task_name, j.key) for j in first) == [
        ("one-per-key", "a"),
        ("one-per-key", "b"),
        ("queued", None),
    ]
    assert await store.claim("w", 10, at(1), 60) == []  # all held


async def test_rate_limit_state_persists_between_claims(store: SqlStore, db_url: str) -> None:
    await define(store, "rated", Policies(rate_limit=RateLimit(3, 1.0)))
    await store.enqueue(jobs_for("rated", [None] * 10), T0)
    assert len(await store.claim("w", 10, at(0), 60)) == 3  # the burst
    other = create_store(db_url)
    try:
        assert await other.claim("w2", 10, at(0.1), 60) == []  # same limiter, another worker
        assert len(await other.claim("w2", 10, at(1 / 3 + 0.001), 60)) == 1
    finally:
        await other.close()


async def test_global_rate_limit_rule(store: SqlStore) -> None:
    await define(store, "t", Policies())
    await store.enqueue(jobs_for("t", [None] * 10), T0)
    rules = ClaimRules(rate_limit=RateLimit(5, 10.0))
    assert len(await store.claim("w", 10, at(0), 60, rules=rules)) == 5
    assert len(await store.claim("w", 10, at(1), 60, rules=rules)) == 0
    assert len(await store.claim("w", 10, at(2), 60, rules=rules)) == 1


async def test_why_a_page_of_jobs_waits_in_one_read(store: SqlStore) -> None:
    await define(store, "one-per-key", Policies(key_limit=1))
    busy, held, free = await store.enqueue(jobs_for("one-per-key", ["a", "a", "b"]), T0)
    (later,) = await store.enqueue([NewJob("one-per-key", at(600), TriggeredBy.API)], T0)
    (claimed,) = await store.claim("w", 1, at(1), 60)
    assert claimed.id == busy
    holds = await store.explain_holds([busy, held, free, later, 424242], at(2))
    assert set(holds) == {held, later}  # running, free and unknown jobs: nothing to say
    assert holds[held].policy == "key_limit"
    assert (holds[later].policy, holds[later].until) == ("schedule", at(600))
    # Each job is checked alone, as the one explain_hold says.
    for job_id in (busy, held, free, later):
        assert await store.explain_hold(job_id, at(2)) == holds.get(job_id)
    assert await store.explain_holds([], at(2)) == {}
