"""Grouping failed jobs by error (``domain/failures.py``): pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.failures import SAMPLES, FailedJob, fingerprinted, group_failures
from tickwork.domain.fingerprints import fingerprint
from tickwork.domain.jobs import JobState

T0 = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
TB = (
    'Traceback (most recent call last):\n  File "/x/site-packages/shop/pay.py", line 3, in charge\n'
)


def failed(
    job_id: int, message: str, *, error_type: str = "ValueError", task: str = "pay"
) -> FailedJob:
    return FailedJob(
        job_id=job_id,
        task_name=task,
        state=JobState.FAILED,
        finished_at=T0 + timedelta(minutes=job_id),
        run_id=job_id * 10,
        error_type=error_type,
        error_class="unknown",
        message=message,
        traceback=TB,
    )


def test_messages_that_differ_by_numbers_and_ids_are_one_group() -> None:
    jobs = [
        failed(1, "user 17 not found (request 0f8fad5b-d9cb-469f-a165-70867728950e)"),
        failed(2, "user 923 not found (request 7c9e6679-7425-40de-944b-e07fc1f90ae7)", task="sync"),
        failed(3, "user 5 not found (request 16fd2706-8baf-433b-82eb-8c7fada847da)"),
    ]
    (group,) = group_failures(fingerprinted(jobs), {})
    assert group.count == 3
    assert group.message == "user <n> not found (request <uuid>)"
    assert group.frame == "shop/pay.py:charge"
    assert group.tasks == (("pay", 2), ("sync", 1))
    assert group.fingerprint == fingerprint("ValueError", jobs[0].message, TB).fingerprint
    assert [r.job_id for r in group.jobs] == [3, 2, 1]
    assert (group.first_seen, group.last_seen) == (jobs[0].finished_at, jobs[2].finished_at)
    assert group.sample_message == jobs[2].message


def test_other_error_classes_are_other_groups_newest_first() -> None:
    groups = group_failures(
        fingerprinted(
            [failed(1, "boom"), failed(2, "boom", error_type="KeyError"), failed(3, "boom")]
        ),
        {},
    )
    assert [(g.error_type, g.count) for g in groups] == [("ValueError", 2), ("KeyError", 1)]


def test_acknowledged_failures_leave_their_group() -> None:
    jobs = [failed(i, f"order {i} failed") for i in range(1, 10)]
    print_ = fingerprint("ValueError", "order 1 failed", TB).fingerprint
    (group,) = group_failures(fingerprinted(jobs), {print_: jobs[6].finished_at})
    assert [r.job_id for r in group.jobs] == [9, 8]
    assert group_failures(fingerprinted(jobs), {print_: jobs[8].finished_at}) == []
    (everything,) = group_failures(fingerprinted(jobs), {"0" * 64: T0 + timedelta(days=1)})
    assert len(everything.samples) == SAMPLES and everything.count == 9
