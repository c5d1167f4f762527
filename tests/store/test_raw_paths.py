"""The raw-driver hot paths (``postgres.queue``, ``sqlite.queue``) keep the Store contract:
bulk enqueue with mixed jobs, batched completions, and claims under binding limits with the
SQL pre-filter. Runs on both backends through the ``store`` fixture."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tickwork.domain.admission import ClaimRules
from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.limits import OverlapPolicy, Policies
from tickwork.domain.queries import JobQuery, RunQuery
from tickwork.domain.tasks import PythonTarget, TaskDefinition
from tickwork.store import SqlStore, create_store

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new(task: str = "t", **kw: Any) -> NewJob:
    kw.setdefault("scheduled_at", T0)
    return NewJob(task, triggered_by=TriggeredBy.API, **kw)


def alarm() -> NewJob:
    return NewJob("alarm", at(100), TriggeredBy.API)


async def define(store: SqlStore, name: str, policies: Policies) -> None:
    defn = TaskDefinition(name=name, target=PythonTarget("json:dumps"), policies=policies)
    await store.sync_tasks([defn], [], {}, T0)


def done(j: Job, state: JobState = JobState.SUCCEEDED, finished: float = 2) -> Completion:
    assert j.started_at is not None
    ok = state is JobState.SUCCEEDED
    status = RunStatus.SUCCEEDED if ok else RunStatus.FAILED
    return Completion(
        job_id=j.id,
        task_name=j.task_name,
        attempt=j.attempt,
        triggered_by=j.run_triggered_by,
        worker_id=j.worker_id,
        started_at=j.started_at,
        finished_at=at(finished),
        outcome=Outcome(status, result={"n": j.id}, error_message=None if ok else "boom"),
        next_state=state,
        retry_at=at(30) if state is JobState.RETRYING else None,
    )


async def test_bulk_enqueue_keeps_order_and_values(store: SqlStore) -> None:
    jobs = [
        new(args=(i, "x'\"\\{}"), kwargs={"k": [i, None]}, priority=i % 3, key=f"k{i % 4}")
        for i in range(250)
    ] + [new(scheduled_at=at(60)), new(skip_reason="skipped: not today")]
    ids = await store.enqueue(jobs, T0)
    assert len(ids) == len(set(ids)) == 252
    assert ids == sorted(ids)
    for i in (0, 7, 249):
        got = await store.get_job(ids[i])
        assert got is not None
        assert got.args == [i, "x'\"\\{}"] and got.kwargs == {"k": [i, None]}
        assert (got.priority, got.key, got.state) == (i % 3, f"k{i % 4}", JobState.AVAILABLE)
        assert got.scheduled_at == T0 and got.created_at == T0
        assert got.scheduled_at.utcoffset() == timedelta(0)
    later = await store.get_job(ids[250])
    skipped = await store.get_job(ids[251])
    assert later is not None and later.state is JobState.SCHEDULED
    assert skipped is not None and skipped.state is JobState.SKIPPED
    assert skipped.finished_at == T0 and skipped.last_error == "skipped: not today"


async def test_bulk_enqueue_with_mixed_unique_keys_and_deadlines(store: SqlStore) -> None:
    (held,) = await store.enqueue([new(unique_key="u1")], T0)
    jobs = [
        new(args=(0,)),
        new(unique_key="u1"),  # held by an active job
        new(unique_key="u2"),
        new(args=(3,), deadline_job=alarm()),
        new(unique_key="u2"),  # same key twice in one call: one job
        new(args=(5,)),
    ]
    ids = await store.enqueue(jobs, T0)
    assert ids[1] == held and ids[2] == ids[4]
    assert len({ids[0], ids[2], ids[3], ids[5], held}) == 5
    watchdogs = [
        j for j in await store.query_jobs(JobQuery(task_name="alarm")) if j.task_name == "alarm"
    ]
    assert len(watchdogs) == 1
    assert watchdogs[0].kwargs["job_id"] == ids[3]
    assert watchdogs[0].scheduled_at == at(100)


async def test_batched_completions_write_runs_states_and_cancel_watchdogs(store: SqlStore) -> None:
    ids = await store.enqueue([new(deadline_job=alarm()), new(deadline_job=alarm()), new()], T0)
    claimed = {j.id: j for j in await store.claim("w", 3, at(1), 60)}
    assert set(claimed) == set(ids)
    ok, failed, retry = (claimed[i] for i in ids)
    stale = replace(done(ok), attempt=7)  # not this attempt: run only
    await store.complete(
        [done(ok), done(failed, JobState.FAILED), done(retry, JobState.RETRYING), stale]
    )
    after = {i: await store.get_job(i) for i in ids}
    assert after[ids[0]] is not None and after[ids[0]].state is JobState.SUCCEEDED
    assert after[ids[0]].finished_at == at(2) and after[ids[0]].lease_expires_at is None
    assert after[ids[1]] is not None and after[ids[1]].state is JobState.FAILED
    r = after[ids[2]]
    assert r is not None and r.state is JobState.RETRYING and r.scheduled_at == at(30)
    assert r.finished_at is None
    alarms = {j.kwargs["job_id"]: j for j in await store.query_jobs(JobQuery(task_name="alarm"))}
    assert alarms[ids[0]].state is JobState.CANCELLED
    assert alarms[ids[0]].last_error == f"watched job {ids[0]} succeeded in time"
    assert alarms[ids[1]].state is JobState.SCHEDULED  # failed: the watchdog still fires
    runs = await store.query_runs(RunQuery(limit=10, sort="id"))
    assert Counter(r.job_id for r in runs) == Counter({ids[0]: 2, ids[1]: 1, ids[2]: 1})
    first = next(r for r in runs if r.job_id == ids[0] and r.attempt == 1)
    assert first.result == {"n": ids[0]} and first.started_at == at(1)


async def test_binding_key_limit_across_claimers_never_exceeded_and_drains(
    store: SqlStore, db_url: str
) -> None:
    await define(store, "t", Policies())
    await store.enqueue([new(key=f"k{i % 5}") for i in range(150)], T0)
    others = [create_store(db_url) for _ in range(2)]
    rules = ClaimRules(key_limit=2)
    finished = 0
    try:
        for round_ in range(200):
            batches = await asyncio.gather(
                *(
                    s.claim(f"w{i}", 40, at(1), 60, rules=rules)
                    for i, s in enumerate([store, *others])
                )
            )
            running = Counter(
                j.key
                for j in await store.query_jobs(JobQuery(states=[JobState.RUNNING], limit=1000))
            )
            assert running and max(running.values()) <= 2, round_
            claimed = [j for batch in batches for j in batch]
            await store.complete([done(j) for j in claimed])
            finished += len(claimed)
            if finished == 150:
                break
    finally:
        for s in others:
            await s.close()
    assert finished == 150
    assert (await store.count_jobs_by_state()).get(JobState.SUCCEEDED) == 150


async def test_prefilter_respects_per_task_key_limits_and_queued_tasks(store: SqlStore) -> None:
    await define(store, "one", Policies(key_limit=1))
    await define(store, "free", Policies())
    await define(store, "queued", Policies(overlap=OverlapPolicy.QUEUE))
    await store.enqueue([new("one", key="x"), new("queued")], T0)
    first = await store.claim("w", 10, at(1), 60)
    assert {j.task_name for j in first} == {"one", "queued"}
    # Key "x" is full for "one" (limit 1) but not for "free" (no limit); "queued" has a run.
    ids = await store.enqueue([new("one", key="x"), new("free", key="x"), new("queued")], T0)
    second = await store.claim("w", 10, at(2), 60)
    assert [j.id for j in second] == [ids[1]]
    # With a process-wide key limit of 2, "free" gets one more on "x"; "one" keeps its own 1.
    ids2 = await store.enqueue([new("free", key="x"), new("free", key="x")], T0)
    third = await store.claim("w", 10, at(3), 60, rules=ClaimRules(key_limit=3))
    assert [j.id for j in third] == [ids2[0]]
    await store.complete([done(j) for j in first + second + third])
    last = await store.claim("w", 10, at(4), 60, rules=ClaimRules(key_limit=3))
    assert sorted(j.id for j in last) == sorted([ids[0], ids[2], ids2[1]])
