"""Processor control under ``/api/cron``, ``/health`` and ``/api/status``, on a real server."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.api.conftest import TEST_SETTINGS, Api, error_of, running_api
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.jobs import Completion, JobState, Outcome, RunStatus, TriggeredBy
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import create_store

PING = TaskDefinition(name="ping", target=HttpTarget(url="http://127.0.0.1:9/"))


async def define(api: Api) -> None:
    await api.ctx.service.sync_definitions([PING], [TaskSource.CODE])


async def test_health_is_open_and_cheap(api: Api) -> None:
    await api.token(Role.ADMIN)  # users exist: /health still needs no credentials
    response = await api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["timestamp"]


async def test_health_is_503_when_the_store_is_unreachable() -> None:
    # Nothing listens on port 1: every store call fails as it would with the server down.
    async with running_api("postgresql://postgres@127.0.0.1:1/none") as api:
        response = await api.client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_stop_and_start_pause_every_worker_and_are_audited(api: Api) -> None:
    operator = await api.token(Role.OPERATOR, user="olga")
    async with api.as_token(operator) as client:
        stopped = await client.post("/api/cron/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["paused"] is True and stopped.json()["updated_by"] == "olga"
        assert (await api.ctx.control.get()).paused
        status = (await client.get("/api/cron/status")).json()
        assert status["control"]["paused"] is True
        health = (await client.get("/api/cron/health")).json()
        assert health["status"] == "degraded"
        assert any("pause" in reason for reason in health["reasons"]), health
        started = await client.post("/api/cron/start")
        assert started.json()["paused"] is False
    entries = await api.store.query_audit(AuditQuery(target_type="processor"))
    assert [(e.actor, e.action) for e in reversed(entries)] == [
        ("olga", "processor.pause"),
        ("olga", "processor.resume"),
    ]


async def test_control_needs_processor_scope(api: Api) -> None:
    reader = await api.token(Role.READ_ONLY)
    async with api.as_token(reader) as client:
        for method, path in [
            ("POST", "/api/cron/stop"),
            ("POST", "/api/cron/start"),
            ("POST", "/api/cron/trigger"),
            ("PUT", "/api/cron/config"),
            ("POST", "/api/cron/reset-stuck-jobs"),
        ]:
            response = await client.request(method, path, json={"batchSize": 5})
            assert response.status_code == 403, (path, response.text)
            assert "processor:control" in error_of(response)["message"]
        for path in ["/api/cron/status", "/api/cron/health", "/api/cron/queue", "/api/status"]:
            assert (await client.get(path)).status_code == 200, path
    anonymous = await api.client.post("/api/cron/stop")
    assert anonymous.status_code == 401


async def test_trigger_wakes_the_local_worker_and_counts_due_jobs(sqlite_url: str) -> None:
    woken: list[int] = []
    async with running_api(sqlite_url, notify=lambda: woken.append(1)) as api:
        await define(api)
        await api.ctx.service.enqueue(EnqueueRequest("ping"))
        await api.ctx.service.enqueue(EnqueueRequest("ping"))
        await api.ctx.service.enqueue(EnqueueRequest("ping", delay_seconds=3600))
        woken.clear()
        response = await api.client.post("/api/cron/trigger")
    assert response.status_code == 200, response.text
    assert response.json() == {"due_jobs": 2, "woke_local_worker": True}
    assert woken == [1]


async def test_trigger_notifies_workers_of_other_processes_on_postgres(pg_url: str) -> None:
    other = create_store(pg_url)
    await other.open()
    woke = threading.Event()
    watcher = other.watch(woke.set)
    try:
        async with running_api(pg_url) as api:
            woke.clear()
            response = await api.client.post("/api/cron/trigger")
            assert response.status_code == 200
            assert woke.wait(10), "no NOTIFY reached the other process's watcher"
    finally:
        watcher.close()
        await other.close()


async def test_trigger_accepts_the_trigger_secret(sqlite_url: str) -> None:
    secret = "s" * 24
    settings = TEST_SETTINGS.replace(trigger_secret=secret)
    async with running_api(sqlite_url, settings) as api:
        await api.token(Role.ADMIN)  # no longer local mode
        headers = {"Authorization": f"Bearer {secret}"}
        ok = await api.client.post("/api/cron/trigger", headers=headers)
        assert ok.status_code == 200, ok.text
        # The trigger secret is good for triggering only.
        refused = await api.client.post("/api/cron/stop", headers=headers)
        assert refused.status_code == 401
        wrong = await api.client.post("/api/cron/trigger", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401


async def test_queue_shows_due_jobs_and_running_jobs_per_processor(api: Api) -> None:
    await define(api)
    for _ in range(3):
        await api.ctx.service.enqueue(EnqueueRequest("ping"))
    now = api.clock.now()
    await api.store.claim("proc-a", 1, now, 60)
    body = (await api.client.get("/api/cron/queue")).json()
    assert body["queue"]["due_now"] == 2
    assert body["queue"]["by_state"]["running"] == 1
    # A worker that never registered (no heartbeat row) still shows with its jobs.
    assert body["running_by_processor"] == [
        {"processor_id": "proc-a", "state": "unknown", "running_jobs": 1}
    ]


async def _record_runs(api: Api, durations: list[tuple[float, RunStatus]]) -> None:
    """Real runs: jobs enqueued, claimed and completed through the store."""
    await define(api)
    now = api.clock.now()
    for seconds, status in durations:
        await api.ctx.service.enqueue(EnqueueRequest("ping"))
        (job,) = await api.store.claim("w", 1, api.clock.now(), 60)
        outcome = (
            Outcome.success() if status is RunStatus.SUCCEEDED else Outcome.failure("E", "boom")
        )
        state = JobState.SUCCEEDED if status is RunStatus.SUCCEEDED else JobState.FAILED
        await api.store.complete(
            [
                Completion(
                    job_id=job.id,
                    task_name="ping",
                    attempt=1,
                    triggered_by=TriggeredBy.API,
                    worker_id="w",
                    started_at=now,
                    finished_at=now + timedelta(seconds=seconds),
                    outcome=outcome,
                    next_state=state,
                )
            ]
        )


async def test_metrics_per_task(api: Api) -> None:
    ok, bad = RunStatus.SUCCEEDED, RunStatus.FAILED
    await _record_runs(api, [(1.0, ok), (2.0, ok), (3.0, ok), (4.0, bad)])
    start = (api.clock.now() - timedelta(minutes=1)).isoformat()
    end = (api.clock.now() + timedelta(minutes=1)).isoformat()
    params = {"startDate": start, "endDate": end, "jobType": "ping"}
    response = await api.client.get("/api/cron/metrics", params=params)
    assert response.status_code == 200, response.text
    (ping,) = response.json()["tasks"]
    assert ping["task"] == "ping" and ping["runs"] == 4
    assert ping["succeeded"] == 3 and ping["failed"] == 1 and ping["success_rate"] == 0.75
    assert ping["avg_duration_seconds"] == 2.5
    assert 3.0 <= ping["p95_duration_seconds"] <= 4.0
    other = await api.client.get("/api/cron/metrics", params={**params, "jobType": "nope"})
    assert other.json()["tasks"] == []
    insights = await api.client.get("/api/cron/insights", params={"startDate": start})
    assert insights.status_code == 200
    assert {"always_failing", "near_timeout", "busiest_hours", "slowest"} <= set(insights.json())


async def test_metrics_refuse_bad_dates(api: Api) -> None:
    cases = {
        "startDate=yesterday": "startDate",
        "endDate=2026-01-01T00:00:00": "endDate",  # no offset
        "startDate=2026-02-01&endDate=2026-01-01": "startDate",
    }
    for query, field in cases.items():
        response = await api.client.get(f"/api/cron/metrics?{query}")
        assert response.status_code == 422, (query, response.text)
        assert error_of(response)["field"] == field


async def test_reset_stuck_jobs(api: Api) -> None:
    await define(api)
    job_id = await api.ctx.service.enqueue(EnqueueRequest("ping"))
    await api.store.claim("hung-worker", 1, api.clock.now(), 3600)
    api.clock.advance(10 * 60)
    young = await api.client.post("/api/cron/reset-stuck-jobs", json={"timeoutMinutes": 15})
    assert young.json() == {"reset": 0, "jobs": []}
    response = await api.client.post("/api/cron/reset-stuck-jobs", json={"timeoutMinutes": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reset"] == 1 and body["jobs"][0]["id"] == job_id
    # Back in the queue: an operator's reset spends no retry (max_interruptions bounds it).
    assert (await api.ctx.service.get_job(job_id)).state is JobState.AVAILABLE
    for bad in [{"timeoutMinutes": 0}, {"timeoutMinutes": 1e300}, {}, {"minutes": 5}]:
        refused = await api.client.post("/api/cron/reset-stuck-jobs", json=bad)
        assert refused.status_code == 422, bad


async def test_config_sets_validates_and_clears(api: Api) -> None:
    put = api.client.put
    response = await put("/api/cron/config", json={"batchSize": 10, "timeout": "2m"})
    assert response.status_code == 200, response.text
    assert response.json()["batch_size"] == 10
    assert response.json()["default_timeout_seconds"] == 120
    state = await api.ctx.control.get()
    assert state.batch_size == 10 and state.default_timeout_seconds == 120
    cleared = await put("/api/cron/config", json={"batchSize": None, "concurrency": 8})
    assert cleared.json()["batch_size"] is None and cleared.json()["max_concurrent_jobs"] == 8
    assert cleared.json()["default_timeout_seconds"] == 120  # absent: unchanged
    cases = {
        "batchSize": {"batchSize": 5000},
        "concurrency": {"concurrency": True},
        "timeout": {"timeout": "soon"},
        "batchSize ": {"batchSize": "5"},
        "body": {},
        "workers": {"workers": 3},
    }
    for field, body in cases.items():
        refused = await put("/api/cron/config", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert error_of(refused)["field"] == field.strip(), refused.text
    negative = await put("/api/cron/config", json={"timeout": -1})
    assert negative.status_code == 422 and error_of(negative)["field"] == "timeout"
    assert (await api.ctx.control.get()).max_concurrent_jobs == 8


async def test_status_lists_processors(api: Api) -> None:
    response = await api.client.get("/api/status")
    assert response.status_code == 200
    body = response.json()
    assert body["processors"] == [] and body["jobs_by_state"]["available"] == 0
    assert body["version"]


async def test_cron_routes_answer_503_when_the_store_is_down() -> None:
    # Even the detailed health: who the caller is cannot be checked without the store.
    async with running_api("postgresql://postgres@127.0.0.1:1/none") as api:
        paths = ["/api/cron/status", "/api/cron/queue", "/api/cron/metrics", "/api/cron/health"]
        for path in paths:
            response = await api.client.get(path)
            assert response.status_code == 503, (path, response.text)
            error = error_of(response)
            assert error["code"] == "store_unavailable"
