"""Who asked for a job, and what its run used, as the API shows them (both backends)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, define
from tickwork.domain.access import Role
from tickwork.domain.jobs import (
    Completion,
    JobState,
    Outcome,
    ResourceScope,
    ResourceUse,
    TriggeredBy,
)


@pytest.mark.postgres
async def test_a_token_trigger_records_its_user_on_the_job_and_its_run(api_any: Api) -> None:
    await define(api_any, "ping")
    token = await api_any.token(Role.OPERATOR, user="carol")
    async with api_any.as_token(token) as client:
        response = await client.post("/api/jobs/ping/trigger")
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert response.json()["job"]["requested_by"] == "carol"
        # A worker runs it: the run copies the job's requester, with what it used.
        now = api_any.clock.now()
        (job,) = await api_any.store.claim("test-worker", 1, now, 60)
        assert job.id == job_id and job.requested_by == "carol"
        used = ResourceUse.measured(ResourceScope.PROCESS, 0.5, 2.0, 210.0)
        await api_any.store.complete(
            [
                Completion(
                    job_id=job.id,
                    task_name=job.task_name,
                    attempt=job.attempt,
                    triggered_by=TriggeredBy.API,
                    worker_id="test-worker",
                    started_at=now,
                    finished_at=now,
                    outcome=Outcome.success(resources=used),
                    next_state=JobState.SUCCEEDED,
                    requested_by=job.requested_by,
                )
            ]
        )
        (listed,) = (await client.get("/api/runs", params={"job_id": job_id})).json()["items"]
        assert listed["requested_by"] == "carol"
        assert listed["resource_scope"] == "process"
        assert listed["cpu_seconds"] == 0.5 and listed["cpu_percent"] == 25.0
        assert listed["peak_memory_mb"] == 210.0
        detail = (await client.get(f"/api/runs/{listed['id']}")).json()
        assert detail["requested_by"] == "carol" and detail["peak_memory_mb"] == 210.0
        queued = (await client.get(f"/api/queue/{job_id}")).json()
        assert queued["job"]["requested_by"] == "carol"
        assert queued["runs"][0]["cpu_seconds"] == 0.5
