"""Failed jobs written through the store as a worker writes them (enqueue, claim, complete),
for the tests of failures grouped by error."""

from __future__ import annotations

from datetime import datetime, timedelta

from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.store.base import Store


def traceback_in(function: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/jobs.py", line 10, in run\n'
        f'  File "/srv/app/billing.py", line 42, in {function}\n'
        "ValueError: boom\n"
    )


async def fail_job(
    store: Store,
    task: str,
    message: str,
    at: datetime,
    *,
    error_type: str = "ValueError",
    frame: str = "charge",
    state: JobState = JobState.FAILED,
) -> tuple[int, int]:
    """A job of ``task`` that ends ``state`` at ``at`` after one run; (job ID, run ID)."""
    (job_id,) = await store.enqueue([NewJob(task, at, TriggeredBy.API)], at)
    (job,) = await store.claim("test-worker", 1, at, 60)
    assert job.id == job_id
    outcome = Outcome.failure(error_type, message, traceback=traceback_in(frame))
    if state is JobState.TIMEOUT:
        outcome = Outcome(RunStatus.TIMEOUT, error_type=error_type, error_message=message)
    (run_id,) = await store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=task,
                attempt=job.attempt,
                triggered_by=TriggeredBy.API,
                worker_id="test-worker",
                started_at=at - timedelta(seconds=1),
                finished_at=at,
                outcome=outcome,
                next_state=state,
            )
        ]
    )
    return job_id, run_id
