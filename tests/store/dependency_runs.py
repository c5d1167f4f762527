"""Runs of given outcomes for dependency tests: a job claimed and completed, and the jobs that
runs released."""

from __future__ import annotations

from datetime import datetime, timedelta

from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import JobQuery
from tickwork.store import SqlStore


async def run(
    store: SqlStore,
    name: str,
    status: RunStatus,
    *,
    at: datetime,
    next_state: JobState | None = None,
    job_id: int | None = None,
    attempt: int = 1,
) -> int:
    """A job of ``name`` (a new one, or ``job_id`` again) claimed and completed with ``status``;
    its run's ID. Its priority puts it before any released job."""
    if job_id is None:
        (job_id,) = await store.enqueue([NewJob(name, at, TriggeredBy.API, priority=99)], at)
    (job,) = await store.claim("w", 1, at, 60)
    assert job.id == job_id
    state = next_state or JobState(status.value)
    done = Completion(
        job_id=job_id,
        task_name=name,
        attempt=attempt,
        triggered_by=TriggeredBy.API,
        worker_id="w",
        started_at=at,
        finished_at=at + timedelta(seconds=1),
        outcome=Outcome(status),
        next_state=state,
        retry_at=at if state is JobState.RETRYING else None,
    )
    (run_id,) = await store.complete([done])
    return run_id


async def released(store: SqlStore, name: str) -> list[Job]:
    jobs = await store.query_jobs(JobQuery(task_name=name, limit=100))
    return sorted((j for j in jobs if j.released_by_run_id is not None), key=lambda j: j.id)
