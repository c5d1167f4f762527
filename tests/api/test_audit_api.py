"""The audit log records who made each change over the API, and when, and through which
request."""

from __future__ import annotations

import httpx

from tests.api.conftest import HTTP_JOB, Api, define
from tickwork.domain.access import Role


async def test_changes_name_their_actor(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json=HTTP_JOB, headers={"X-Request-ID": "r-create"})
    await admin.patch("/api/jobs/ping", json={"schedule": "@hourly"})
    async with api.as_token(await api.token(Role.OPERATOR, user="olga")) as operator:
        assert (await operator.post("/api/jobs/ping/trigger")).status_code == 202
    await admin.delete("/api/jobs/ping")
    entries = (await admin.get("/api/audit", params={"target": "ping"})).json()["items"]
    by_action = {e["action"]: e for e in entries}
    assert set(by_action) >= {"job.create", "job.update", "job.trigger", "job.delete"}
    assert by_action["job.create"]["actor"] == "user-admin"
    assert by_action["job.create"]["request_id"] == "r-create"
    assert by_action["job.trigger"]["actor"] == "olga"
    update = by_action["job.update"]
    assert update["before"]["schedule"] == "*/5 * * * *"
    assert update["after"]["schedule"] == "@hourly"


async def test_filters_and_cursor(api: Api, admin: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        await admin.post("/api/jobs", json={**HTTP_JOB, "name": name})
    await admin.post("/api/users", json={"name": "newbie", "role": "read_only"})
    jobs_only = (await admin.get("/api/audit", params={"action": "job."})).json()["items"]
    assert [e["target"] for e in jobs_only] == ["c", "b", "a"]
    users = (await admin.get("/api/audit", params={"target_type": "user"})).json()["items"]
    assert "newbie" in {e["target"] for e in users}
    first = (await admin.get("/api/audit", params={"action": "job.create", "limit": 2})).json()
    rest = (
        await admin.get(
            "/api/audit", params={"action": "job.create", "before_id": first["next_cursor"]}
        )
    ).json()
    assert [e["target"] for e in first["items"] + rest["items"]] == ["c", "b", "a"]


async def test_job_changes_history(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json=HTTP_JOB)
    await admin.patch("/api/jobs/ping", json={"schedule": "@daily"})
    await define(api, "other")
    history = (await admin.get("/api/jobs/ping/changes")).json()["items"]
    assert [e["action"] for e in history] == ["job.update", "job.create"]
    assert history[0]["after"]["schedule"] == "@daily"
    async with api.as_token(await api.token(Role.READ_ONLY)) as reader:
        assert (await reader.get("/api/jobs/ping/changes")).status_code == 200


async def test_accounts_and_control_entries_carry_the_request_id(
    api: Api, admin: httpx.AsyncClient
) -> None:
    await admin.post(
        "/api/users", json={"name": "rid", "role": "read_only"}, headers={"X-Request-ID": "r-user"}
    )
    await admin.post("/api/cron/stop", headers={"X-Request-ID": "r-pause"})
    (user,) = (await admin.get("/api/audit", params={"target": "rid"})).json()["items"]
    assert user["action"] == "user.create"
    assert user["request_id"] == "r-user"
    (pause,) = (await admin.get("/api/audit", params={"action": "processor."})).json()["items"]
    assert pause["request_id"] == "r-pause"
