"""The Store contract of alerts, on SQLite and PostgreSQL: states written by compare-and-set
with their transition and delivery jobs in one transaction (a stale write writes nothing),
the history, the channels' health, and the facts an evaluator reads."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.alert_records import AlertKey, AlertWrite, TransitionQuery
from tickwork.domain.alert_states import AlertState, NoticeKind, Status, Transition
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.store import SqlStore, create_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = AlertKey("etl-failing", "task:etl")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def firing(version: int, when: datetime) -> tuple[AlertState, Transition]:
    state = AlertState(
        status=Status.FIRING,
        changed_at=when,
        why="3 consecutive failures",
        announced=True,
        announced_since=when,
        last_notice_at=when,
        flips=(when,),
        version=version,
    )
    transition = Transition(
        at=when,
        from_status=Status.OK,
        to_status=Status.FIRING,
        why="3 consecutive failures",
        sent=(NoticeKind.FIRING,),
        expected_version=version - 1,
        version=version,
    )
    return state, transition


def delivery(channel: str) -> NewJob:
    return NewJob(
        task_name="tickwork.notify",
        scheduled_at=T0,
        triggered_by=TriggeredBy.API,
        max_attempts=3,
        kwargs={"channel": channel, "notice": {"kind": "firing"}},
    )


async def test_compare_and_set_writes_state_transition_and_jobs_once(store: SqlStore) -> None:
    state, transition = firing(1, at(0))
    write = AlertWrite(KEY, state, transition, ("ops", "mail"), (delivery("ops"), delivery("mail")))
    [created] = await store.write_alerts([write], at(0))
    assert created is not None and len(created) == 2
    # The same version again (another evaluator that read version 0): nothing is written.
    assert await store.write_alerts([write], at(1)) == [None]
    stored = await store.alert_states()
    assert stored == {KEY: state}
    jobs = await store.query_jobs(JobQuery(task_name="tickwork.notify"))
    assert sorted(j.id for j in jobs) == sorted(created)
    assert {j.kwargs["channel"] for j in jobs} == {"ops", "mail"}
    assert all(j.state is JobState.AVAILABLE for j in jobs)

    # The next version applies once; a write computed from version 0 stays stale.
    resolved = dataclasses.replace(state, status=Status.OK, announced=False, version=2)
    step = Transition(at(60), Status.FIRING, Status.OK, "recovered", (), 1, 2)
    other = AlertWrite(AlertKey("etl-failing", "task:other"), *firing(1, at(60)))
    results = await store.write_alerts([AlertWrite(KEY, resolved, step), other, write], at(60))
    assert results == [[], [], None]
    assert (await store.alert_states(["etl-failing"]))[KEY] == resolved
    assert await store.alert_states(["nothing"]) == {}

    history = await store.alert_history(TransitionQuery(rule="etl-failing", subject="task:etl"))
    assert [(h.version, h.from_status, h.to_status) for h in history] == [
        (2, Status.FIRING, Status.OK),
        (1, Status.OK, Status.FIRING),
    ]
    first = history[1]
    assert first.sent == (NoticeKind.FIRING,) and first.channels == ("ops", "mail")
    assert sorted(first.job_ids) == sorted(created) and first.at == at(0)
    page = await store.alert_history(TransitionQuery(limit=1))
    assert len(page) == 1
    rest = await store.alert_history(TransitionQuery(before_id=page[0].id, limit=50))
    assert len(rest) == 2


async def test_concurrent_writers_of_one_version_apply_once(db_url: str) -> None:
    stores = [create_store(db_url) for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        state, transition = firing(1, at(0))
        write = AlertWrite(KEY, state, transition, ("ops",), (delivery("ops"),))
        for _ in range(5):
            results = await asyncio.gather(*(s.write_alerts([write], at(0)) for s in stores))
            applied = [r for [r] in results if r is not None]
            assert len(applied) <= 1
            nxt = dataclasses.replace(write.state, version=write.state.version + 1)
            write = AlertWrite(
                KEY,
                nxt,
                dataclasses.replace(
                    write.transition, expected_version=nxt.version - 1, version=nxt.version
                ),
                ("ops",),
                (delivery("ops"),),
            )
        jobs = await stores[0].query_jobs(JobQuery(task_name="tickwork.notify"))
        history = await stores[0].alert_history(TransitionQuery())
        assert len(jobs) == len(history) == 5
        assert [h.version for h in history] == [5, 4, 3, 2, 1]
    finally:
        for s in stores:
            await s.close()


async def test_deliveries_count_failures_in_a_row(store: SqlStore) -> None:
    assert await store.channel_health() == {}
    await store.record_delivery("ops", at(0), "channel 'ops': cannot connect")
    await store.record_delivery("ops", at(1), "channel 'ops': timed out")
    health = (await store.channel_health())["ops"]
    assert (health.failures, health.last_error) == (2, "channel 'ops': timed out")
    assert health.last_failure_at == at(1) and health.last_success_at is None
    await store.record_delivery("ops", at(2), None)
    health = (await store.channel_health())["ops"]
    assert (health.failures, health.last_success_at) == (0, at(2))


def http(name: str, schedule: str | None = None) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=HttpTarget(url="https://example.com"), schedule=schedule
    )


def finished(job_id: int, task: str, started: datetime, status: RunStatus) -> Completion:
    outcome = Outcome(status) if status is RunStatus.SUCCEEDED else Outcome.failure("E", "boom")
    if status is RunStatus.TIMEOUT:
        outcome = dataclasses.replace(outcome, status=RunStatus.TIMEOUT)
    return Completion(
        job_id=job_id,
        task_name=task,
        attempt=1,
        triggered_by=TriggeredBy.API,
        worker_id="w",
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        outcome=outcome,
        next_state=JobState(status.value),
    )


async def test_facts_of_many_tasks(store: SqlStore) -> None:
    await store.sync_tasks(
        [http("a", "*/5 * * * *"), http("b", "*/5 * * * *"), http("c")],
        [TaskSource.CODE],
        {"a": at(300), "b": at(-600)},
        at(0),
    )
    # Runs: a succeeded, failed, failed (newest last); b one timeout; c a skipped run only.
    ids = await store.enqueue(
        [NewJob("a", at(0), TriggeredBy.API) for _ in range(3)]
        + [NewJob("b", at(0), TriggeredBy.API), NewJob("c", at(0), TriggeredBy.API)],
        at(0),
    )
    assert len(await store.claim("w", 10, at(0), 60)) == 5
    statuses = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.FAILED]
    await store.complete(
        [finished(ids[i], "a", at(10 * i), s) for i, s in enumerate(statuses)]
        + [
            finished(ids[3], "b", at(5), RunStatus.TIMEOUT),
            dataclasses.replace(
                finished(ids[4], "c", at(5), RunStatus.SUCCEEDED),
                outcome=Outcome(RunStatus.SKIPPED),
            ),
        ]
    )
    runs = await store.alert_runs({"a": 2, "b": 2, "c": 2, "nothing": 2})
    assert set(runs) == {"a", "b"}
    assert [r.status for r in runs["a"]] == ["failed", "failed"]
    assert runs["a"][0].error == "boom" and runs["a"][0].finished_at == at(22)
    assert [r.status for r in runs["b"]] == ["timeout"]
    # Each task its own limit, in one read.
    runs = await store.alert_runs({"a": 3, "b": 1, "c": 0})
    assert [r.status for r in runs["a"]] == ["failed", "failed", "succeeded"]
    assert [r.status for r in runs["b"]] == ["timeout"]
    assert await store.alert_runs({"a": 0}) == {}

    # The latest batch of a: the three jobs enqueued together (1 succeeded, 2 failed).
    assert (await store.latest_batches(["a", "b", "nothing"])) == {"a": (1, 2), "b": (0, 1)}

    # A running job of b, the oldest one counts.
    [running] = await store.enqueue([NewJob("b", at(30), TriggeredBy.API)], at(30))
    claimed = await store.claim("w", 5, at(40), 60)
    assert [j.id for j in claimed] == [running]
    assert await store.running_since(["a", "b"]) == {"b": at(40)}

    # Late fires: b's schedule is overdue; a has missed fires after its last run only.
    await store.add_missed_fires(
        [
            NewMissedFire("a", at(-100), MissedReason.MISFIRE),  # before the last run
            NewMissedFire("a", at(100), MissedReason.NO_SCHEDULER),
            NewMissedFire("a", at(110), MissedReason.MISFIRE),
            NewMissedFire("a", at(120), MissedReason.PAUSED),  # an operator's decision
            NewMissedFire("a", at(130), MissedReason.OVERLAP),  # the job's own policy
            NewMissedFire("a", at(140), MissedReason.DEPENDENCY),  # a `requires` not met
        ],
        at(200),
    )
    late = await store.late_fires(["a", "b", "c"], at(200))
    assert late == {"a": (None, 3), "b": (at(-600), 0)}
