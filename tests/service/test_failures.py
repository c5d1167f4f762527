"""Failures grouped by error (``service/failures.py``) on a real store of each backend: the
grouping by fingerprint, the range and its cap, and a whole group retried or discarded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.service.failing import fail_job, traceback_in
from tickwork.clock import FakeClock
from tickwork.domain.access import AuditQuery, Principal, Role, Scope
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore

T0 = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
ADA = Principal(
    name="ada", scopes=frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER}), role=Role.OPERATOR
)


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store, clock=FakeClock(T0), resolve=None))
    await svc.sync_definitions(
        [
            TaskDefinition(name=name, target=ShellTarget("true"), source=TaskSource.CONFIG)
            for name in ("billing", "invoices", "reports")
        ],
        [TaskSource.CONFIG],
    )
    return svc


def ago(minutes: float) -> datetime:
    return T0 - timedelta(minutes=minutes)


async def test_failures_group_by_fingerprint(service: Service, store: SqlStore) -> None:
    # The same error with other numbers and IDs, in two tasks: one group.
    a, _ = await fail_job(store, "billing", "order 1234 failed for 'ada@example.com'", ago(50))
    b, _ = await fail_job(store, "billing", "order 98 failed for 'bob@example.com'", ago(40))
    c, run_c = await fail_job(store, "invoices", "order 7 failed for 'eve@example.com'", ago(30))
    # Another error class with the same message: a group of its own; a timeout counts too.
    d, _ = await fail_job(
        store, "billing", "order 5 failed for 'x'", ago(20), error_type="KeyError"
    )
    t, _ = await fail_job(
        store, "reports", "ran for 30s", ago(10), error_type="Timeout", state=JobState.TIMEOUT
    )
    # Outside the range, or not a failure: left out.
    await fail_job(store, "billing", "order 1 failed for 'old'", ago(60 * 24 * 8))
    (ok,) = await store.enqueue([NewJob("billing", ago(5), TriggeredBy.API)], ago(5))
    await store.cancel_job(ok, ago(5), "not wanted")

    report = await service.failures(since="7d")
    assert not report.capped and report.read == 5
    assert [g.error_type for g in report.groups] == ["Timeout", "KeyError", "ValueError"]
    order = report.groups[2]
    assert order.count == 3
    assert order.message == "order <n> failed for <str>"
    assert order.frame == "/srv/app/billing.py:charge"
    assert order.sample_message == "order 7 failed for 'eve@example.com'"
    assert order.tasks == (("billing", 2), ("invoices", 1))
    assert [r.job_id for r in order.jobs] == [c, b, a]
    assert (order.first_seen, order.last_seen) == (ago(50), ago(30))
    assert order.samples[0].run_id == run_c
    assert [r.job_id for r in report.groups[1].jobs] == [d]
    assert report.groups[0].jobs[0].job_id == t and report.groups[0].frame is None

    only = await service.failures(since="7d", task="invoices")
    assert [(g.count, g.tasks) for g in only.groups] == [(1, (("invoices", 1),))]
    hour = await service.failures(since="35m")
    assert sum(g.count for g in hour.groups) == 3

    capped = await service.failures(since="7d", limit=2)
    assert capped.capped and capped.read == 2
    assert [g.error_type for g in capped.groups] == ["Timeout", "KeyError"]


async def test_the_last_run_names_the_error(service: Service, store: SqlStore) -> None:
    at = ago(30)
    (job_id,) = await store.enqueue([NewJob("billing", at, TriggeredBy.API, max_attempts=2)], at)
    for attempt, (etype, state) in enumerate(
        (("KeyError", JobState.RETRYING), ("ValueError", JobState.FAILED)), start=1
    ):
        (job,) = await store.claim("w", 1, at + timedelta(minutes=attempt), 60)
        assert job.id == job_id
        await store.complete(
            [
                Completion(
                    job_id=job_id,
                    task_name="billing",
                    attempt=job.attempt,
                    triggered_by=TriggeredBy.API,
                    worker_id="w",
                    started_at=at + timedelta(minutes=attempt),
                    finished_at=at + timedelta(minutes=attempt),
                    outcome=Outcome.failure(etype, "broke", traceback=traceback_in("charge")),
                    next_state=state,
                    retry_at=at + timedelta(minutes=attempt),
                )
            ]
        )
    (group,) = (await service.failures()).groups
    assert group.error_type == "ValueError" and group.count == 1


async def test_retry_a_group_queues_each_job_again(service: Service, store: SqlStore) -> None:
    first, _ = await fail_job(store, "billing", "card 4242 declined", ago(20))
    second, _ = await fail_job(store, "invoices", "card 1111 declined", ago(10))
    await fail_job(store, "billing", "no such customer", ago(5), error_type="LookupError")
    group = next(g for g in (await service.failures()).groups if g.error_type == "ValueError")

    ada = service.as_actor(ADA)
    assert await ada.retry_failures(group.fingerprint[:12]) == 2

    new_jobs = [j for j in await service.list_jobs() if j.state is JobState.AVAILABLE]
    assert sorted(j.task_name for j in new_jobs) == ["billing", "invoices"]
    assert all(j.triggered_by is TriggeredBy.MANUAL and j.requested_by == "ada" for j in new_jobs)
    assert (await service.get_job(first)).state is JobState.FAILED  # final states stay
    entries = await service.audit_log(AuditQuery(limit=10))
    retried = sorted(int(e.target) for e in entries if e.action == "queue_job.retry")
    assert retried == [first, second]
    (grouped,) = [e for e in entries if e.action == "failure.retry"]
    assert grouped.actor == "ada" and grouped.target == group.fingerprint
    assert grouped.after is not None and grouped.after["jobs"] == 2

    # The group left the list; a second "retry all" has nothing to queue.
    assert [g.error_type for g in (await service.failures()).groups] == ["LookupError"]
    with pytest.raises(NotFoundError):
        await ada.retry_failures(group.fingerprint)
    # The same error again: the group is back with the new failure only.
    for job in new_jobs:  # out of the way of the next claim
        await service.cancel(job.id)
    service.clock.advance(60)  # type: ignore[attr-defined]
    again, _ = await fail_job(store, "billing", "card 5555 declined", T0 + timedelta(seconds=30))
    back = next(g for g in (await service.failures()).groups if g.fingerprint == group.fingerprint)
    assert [r.job_id for r in back.jobs] == [again]


async def test_discard_hides_a_group_and_keeps_its_runs(service: Service, store: SqlStore) -> None:
    job_id, run_id = await fail_job(store, "billing", "card 4242 declined", ago(20))
    (group,) = (await service.failures()).groups
    assert await service.as_actor(ADA).discard_failures(group.fingerprint) == 1
    assert (await service.failures()).groups == []
    assert (await service.get_job(job_id)).state is JobState.FAILED
    assert (await service.get_run(run_id)).error_message == "card 4242 declined"
    assert [j.id for j in await service.list_jobs()] == [job_id]  # nothing queued
    (entry,) = await service.audit_log(AuditQuery(action="failure.", limit=5))
    assert (entry.action, entry.actor, entry.target) == (
        "failure.discard",
        "ada",
        group.fingerprint,
    )
    # Discarding again up to an earlier time does not bring it back.
    await store.acknowledge_failures(group.fingerprint, ago(60), T0, "bob")
    assert (await service.failures()).groups == []


async def test_fingerprints_are_checked(service: Service, store: SqlStore) -> None:
    with pytest.raises(ConfigError, match="hex"):
        await service.retry_failures("not-hex!")
    with pytest.raises(ConfigError, match="hex"):
        await service.discard_failures("abc")  # too short to name one group
    with pytest.raises(NotFoundError, match="no failures"):
        await service.discard_failures("0" * 64)
    with pytest.raises(ConfigError, match="since"):
        await service.failures(since="last week")
