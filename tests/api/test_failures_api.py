"""``GET /api/failures`` and a group retried or discarded over HTTP: shapes, scopes, errors."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, define, error_of
from tests.service.failing import fail_job
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.jobs import JobState

GROUP_FIELDS = {
    "fingerprint",
    "error_type",
    "error_class",
    "message",
    "sample_message",
    "frame",
    "count",
    "first_seen",
    "last_seen",
    "tasks",
    "samples",
}


async def _failures(api: Api) -> dict[str, int]:
    await define(api, "ping", "pong")
    now = api.clock.now()
    ids = {}
    for i, (task, minutes) in enumerate((("ping", 30), ("pong", 20), ("ping", 10))):
        job_id, _ = await fail_job(
            api.store, task, f"HTTP 50{i} from host 10.0.0.{i}", now - timedelta(minutes=minutes)
        )
        ids[f"{task}{i}"] = job_id
    return ids


async def test_failures_are_listed_grouped(api: Api) -> None:
    await _failures(api)
    response = await api.client.get("/api/failures", params={"since": "1h"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"start", "end", "task", "read", "limit", "capped", "groups"}
    assert (body["read"], body["capped"], body["limit"]) == (3, False, 5000)
    (group,) = body["groups"]
    assert set(group) == GROUP_FIELDS
    assert group["count"] == 3 and group["tasks"] == {"ping": 2, "pong": 1}
    assert group["message"] == "HTTP <n> from host <n>.<n>"
    assert group["last_seen"].endswith("Z") or group["last_seen"].endswith("+00:00")
    assert [set(s) for s in group["samples"]] == [{"job_id", "run_id", "task", "finished_at"}] * 3
    only = await api.client.get("/api/failures", params={"task": "pong"})
    assert only.json()["groups"][0]["tasks"] == {"pong": 1}
    bad = await api.client.get("/api/failures", params={"since": "yesterday"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "since"
    unknown = await api.client.get("/api/failures", params={"range": "7d"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "range"


async def test_retry_and_discard_a_group(api: Api) -> None:
    ids = await _failures(api)
    fingerprint = (await api.client.get("/api/failures")).json()["groups"][0]["fingerprint"]
    async with api.as_token(await api.token(Role.OPERATOR, user="olga")) as operator:
        retried = await operator.post(f"/api/failures/{fingerprint[:10]}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json() == {"fingerprint": fingerprint[:10], "action": "retry", "jobs": 3}
        assert (await operator.get("/api/failures")).json()["groups"] == []
        again = await operator.post(f"/api/failures/{fingerprint}/discard")
        assert again.status_code == 404
        assert "no failures" in error_of(again)["message"]
        malformed = await operator.post("/api/failures/xyz/discard")
        assert malformed.status_code == 422
    jobs = await api.ctx.service.list_jobs()
    assert len([j for j in jobs if j.state is JobState.AVAILABLE]) == 3
    assert all(j.requested_by == "olga" for j in jobs if j.state is JobState.AVAILABLE)
    entries = await api.ctx.service.audit_log(AuditQuery(actor="olga", limit=20))
    assert sorted(e.action for e in entries) == ["failure.retry"] + ["queue_job.retry"] * 3
    assert {int(e.target) for e in entries if e.action == "queue_job.retry"} == set(ids.values())


async def test_discard_keeps_the_runs(api: Api) -> None:
    await _failures(api)
    group = (await api.client.get("/api/failures")).json()["groups"][0]
    run_id = group["samples"][0]["run_id"]
    async with api.as_token(await api.token(Role.ADMIN)) as admin:
        discarded = await admin.post(f"/api/failures/{group['fingerprint']}/discard?since=2h")
        assert discarded.json() == {
            "fingerprint": group["fingerprint"],
            "action": "discard",
            "jobs": 3,
        }
        assert (await admin.get("/api/failures")).json()["groups"] == []
        run = await admin.get(f"/api/runs/{run_id}")
        assert run.status_code == 200 and run.json()["status"] == "failed"


async def test_a_reader_cannot_act_on_a_group(api: Api) -> None:
    await _failures(api)
    async with api.as_token(await api.token(Role.READ_ONLY)) as reader:
        listed = await reader.get("/api/failures")
        assert listed.status_code == 200
        fingerprint = listed.json()["groups"][0]["fingerprint"]
        for action in ("retry", "discard"):
            refused = await reader.post(f"/api/failures/{fingerprint}/{action}")
            assert refused.status_code == 403
            assert "jobs:trigger" in error_of(refused)["message"]
        assert len((await reader.get("/api/failures")).json()["groups"]) == 1
    assert len(await api.ctx.service.list_jobs()) == 3  # nothing queued
