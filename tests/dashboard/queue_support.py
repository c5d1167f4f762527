"""Jobs and runs for the queue and run pages, written through the store as a worker writes
them: enqueue, claim, report progress and events, complete."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api.conftest import Api
from tickwork.domain.activity import NewRunEvent, RunEventKind
from tickwork.domain.jobs import (
    Completion,
    Job,
    JobState,
    NewJob,
    Outcome,
    ResourceScope,
    ResourceUse,
    TriggeredBy,
)

WORKER = "worker-7"


async def claimed(api: Api, task: str, *, max_attempts: int = 1) -> Job:
    """A job of ``task`` taken by a worker now (running)."""
    now = api.clock.now()
    new = NewJob(task, now, TriggeredBy.API, max_attempts=max_attempts)
    (job_id,) = await api.store.enqueue([new], now)
    (job,) = await api.store.claim(WORKER, 1, now, 60)
    assert job.id == job_id
    return job


async def report(api: Api, job: Job, at: datetime) -> None:
    """Progress and an event of the job's current attempt."""
    await api.store.add_run_events(
        [
            NewRunEvent(
                job.id, job.attempt, job.task_name, RunEventKind.PROGRESS, at, done=3, total=10
            ),
            NewRunEvent(
                job.id,
                job.attempt,
                job.task_name,
                RunEventKind.EVENT,
                at,
                f"copied batch of attempt {job.attempt}",
                data={"rows": 40},
            ),
        ]
    )


async def fail(api: Api, job: Job, *, seconds: float = 2.0, retry: bool = False) -> None:
    """The running attempt fails after ``seconds`` (to be retried, or for good), with output,
    a stack trace and the worker's share of CPU."""
    started = job.started_at or api.clock.now()
    outcome = Outcome.failure(
        "ValueError",
        "bad row 17",
        traceback='Traceback (most recent call last):\n  File "sync.py", line 3\nValueError',
        output="reading rows\n",
        resources=ResourceUse(ResourceScope.WORKER, cpu_seconds=0.5, cpu_percent=25.0),
    )
    finished = started + timedelta(seconds=seconds)
    await api.store.complete(
        [
            Completion(
                job_id=job.id,
                task_name=job.task_name,
                attempt=job.attempt,
                triggered_by=job.run_triggered_by,
                worker_id=WORKER,
                started_at=started,
                finished_at=finished,
                outcome=outcome,
                next_state=JobState.RETRYING if retry else JobState.FAILED,
                retry_at=finished if retry else None,
                requested_by=job.requested_by,
            )
        ]
    )
