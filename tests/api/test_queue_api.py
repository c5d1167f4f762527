"""The queue over the API: enqueue with options, list and page, explain, cancel, reschedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.api.conftest import Api, add_run, define, error_of
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.activity import NewRunEvent, RunEventKind
from tickwork.domain.jobs import NewJob, RunStatus, TriggeredBy


async def test_enqueue_with_options(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping", "alarm")
    response = await admin.post(
        "/api/queue",
        json={
            "task": "ping",
            "args": [1, "two"],
            "kwargs": {"x": 3},
            "delay": "10m",
            "key": "tenant-1",
            "priority": 7,
            "deadline": "1h",
            "on_deadline": "alarm",
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] == "scheduled" and job["args"] == [1, "two"] and job["kwargs"]["x"] == 3
    assert job["key"] == "tenant-1" and job["priority"] == 7
    due = datetime.fromisoformat(job["scheduled_at"])
    assert due - api.clock.now() == timedelta(minutes=10)
    alarms = (await admin.get("/api/queue", params={"task": "alarm"})).json()["items"]
    assert len(alarms) == 1
    assert datetime.fromisoformat(alarms[0]["scheduled_at"]) == due + timedelta(hours=1)


async def test_enqueue_at_a_time_and_unique_key(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    at = (api.clock.now() + timedelta(days=1)).isoformat()
    first = await admin.post("/api/queue", json={"task": "ping", "at": at, "unique_key": "u"})
    second = await admin.post("/api/queue", json={"task": "ping", "unique_key": "u"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]  # the key's active job, not a new one
    assert datetime.fromisoformat(first.json()["scheduled_at"]) == datetime.fromisoformat(at)


async def test_enqueue_refuses_bad_input_by_name(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    cases = [
        ({"task": "nope"}, 404, None),
        ({"task": "ping", "delay": "soon"}, 422, "delay"),
        ({"task": "ping", "at": "2030-01-01T00:00:00"}, 422, "at"),
        ({"task": "ping", "deadline": "whenever", "on_deadline": "ping"}, 422, "deadline"),
        ({"task": "ping", "deadline": "1h"}, 422, "on_deadline"),
        ({"task": "ping", "unique_for": "1h"}, 422, "unique_for_seconds"),
        ({"task": "ping", "args": "not-a-list"}, 422, "args"),
    ]
    for body, status, field in cases:
        response = await admin.post("/api/queue", json=body)
        assert response.status_code == status, (body, response.text)
        if field is not None:
            assert error_of(response)["field"] == field, body


async def test_list_filters_and_pages_by_cursor(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping", "other")
    done = await add_run(api, "ping")
    later = {"task": "ping", "delay": "1h"}
    ids = [(await admin.post("/api/queue", json=later)).json()["id"] for _ in range(5)]
    await admin.post("/api/queue", json={"task": "other"})
    page = (await admin.get("/api/queue", params={"task": "ping", "limit": 3})).json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:3]
    rest = (
        await admin.get(
            "/api/queue", params={"task": "ping", "limit": 3, "before_id": page["next_cursor"]}
        )
    ).json()
    assert [j["id"] for j in rest["items"]] == [*ids[::-1][3:], done]
    end = await admin.get("/api/queue", params={"task": "ping", "before_id": done})
    assert end.json() == {"items": [], "next_cursor": None}
    params = [("state", "available"), ("state", "succeeded")]
    states = (await admin.get("/api/queue", params=params)).json()["items"]
    assert sorted((j["task"], j["state"]) for j in states) == [
        ("other", "available"),
        ("ping", "succeeded"),
    ]


async def test_show_has_runs_and_why_it_waits(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    later = (await admin.post("/api/queue", json={"task": "ping", "delay": "1h"})).json()
    shown = (await admin.get(f"/api/queue/{later['id']}")).json()
    assert shown["job"]["id"] == later["id"] and shown["runs"] == []
    assert shown["held"] is not None and shown["held"]["until"] is not None
    done = await add_run(api, "ping")
    finished = (await admin.get(f"/api/queue/{done}")).json()
    assert [r["status"] for r in finished["runs"]] == ["succeeded"]
    assert finished["held"] is None


async def test_cancel_and_reschedule(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    job = (await admin.post("/api/queue", json={"task": "ping", "delay": "1h"})).json()
    at = api.clock.now() + timedelta(hours=5)
    moved = await admin.post(f"/api/queue/{job['id']}/reschedule", json={"at": at.isoformat()})
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["scheduled_at"]) == at
    naive = await admin.post(f"/api/queue/{job['id']}/reschedule", json={"at": "2030-01-01T00:00"})
    assert naive.status_code == 422 and error_of(naive)["field"] == "at"
    cancelled = await admin.post(f"/api/queue/{job['id']}/cancel", json={"reason": "not needed"})
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["last_error"] == "not needed"
    again = await admin.post(f"/api/queue/{job['id']}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "invalid_state"
    late = await admin.post(f"/api/queue/{job['id']}/reschedule", json={"at": at.isoformat()})
    assert late.status_code == 409
    assert (await admin.post("/api/queue/424242/cancel")).status_code == 404


async def test_retry_runs_a_finished_job_again(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    done = await add_run(api, "ping", RunStatus.FAILED)
    retried = await admin.post(f"/api/queue/{done}/retry")
    assert retried.status_code == 201, retried.text
    job = retried.json()
    assert job["id"] != done and job["task"] == "ping" and job["state"] == "available"
    assert job["triggered_by"] == "manual" and job["requested_by"] == "user-admin"
    old = (await admin.get(f"/api/queue/{done}")).json()
    assert old["job"]["state"] == "failed"  # a final state stays final
    again = await admin.post(f"/api/queue/{job['id']}/retry")
    assert again.status_code == 409
    error = error_of(again)
    assert error["code"] == "invalid_state"
    assert error["message"] == (f"job {job['id']} is available; only a finished job can be retried")
    assert (await admin.post("/api/queue/424242/retry")).status_code == 404
    async with api.as_token(await api.token(Role.READ_ONLY)) as viewer:
        assert (await viewer.post(f"/api/queue/{done}/retry")).status_code == 403
    retries = [
        e
        for e in await api.ctx.service.audit_log(AuditQuery(limit=50))
        if e.action == "queue_job.retry"
    ]
    assert [(e.actor, e.target, e.after) for e in retries] == [
        ("user-admin", str(done), {"job_id": job["id"]})
    ]


async def test_show_has_the_running_attempts_latest_progress(
    api: Api, admin: httpx.AsyncClient
) -> None:
    await define(api, "ping")
    now = api.clock.now()
    (job_id,) = await api.store.enqueue([NewJob("ping", now, TriggeredBy.API)], now)
    assert (await admin.get(f"/api/queue/{job_id}")).json()["progress"] is None
    (job,) = await api.store.claim("w", 1, now, 60)
    await api.store.add_run_events(
        [
            NewRunEvent(job_id, job.attempt, "ping", RunEventKind.PROGRESS, now, done=d, total=9)
            for d in (1, 4)
        ]
        + [NewRunEvent(job_id, job.attempt, "ping", RunEventKind.EVENT, now, "halfway")]
    )
    shown = (await admin.get(f"/api/queue/{job_id}")).json()
    assert shown["job"]["state"] == "running"
    assert (shown["progress"]["done"], shown["progress"]["total"]) == (4, 9)
