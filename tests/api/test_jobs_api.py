"""Job definitions over the API: create, read, list, change, delete, enable, trigger, preview."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx

from tests.api.conftest import HTTP_JOB, Api, add_run, define, error_of, free_port
from tests.integration.support import RecordingServer, start_tickwork, stop, wait_for
from tickwork.domain.jobs import RunStatus
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource


async def test_create_then_get_round_trips_the_table(admin: httpx.AsyncClient) -> None:
    body = {**HTTP_JOB, "description": "health check", "tags": ["ops"], "max_retries": 2}
    created = await admin.post("/api/jobs", json=body)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["name"] == "ping" and job["kind"] == "http" and job["source"] == "api"
    assert job["enabled"] is True and job["removed"] is False
    assert job["next_fire_at"] is not None
    got = (await admin.get("/api/jobs/ping")).json()
    assert got["definition"]["schedule"] == "*/5 * * * *"
    assert got["definition"]["http"]["url"] == HTTP_JOB["http"]["url"]  # type: ignore[index]
    # The table shown is what POST takes: it creates the same definition again.
    again = await admin.post("/api/jobs", json={**got["definition"], "name": "ping2"})
    assert again.status_code == 201, again.text
    assert {**again.json()["definition"], "name": "ping"} == got["definition"]


async def test_only_http_jobs_by_default(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/jobs", json={"name": "sh", "command": "rm -rf /", "schedule": "@daily"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert "shell jobs cannot be defined over the API" in error["message"]


async def test_list_filters_sorts_and_pages(api: Api, admin: httpx.AsyncClient) -> None:
    for name, tags in (("alpha", ["a"]), ("beta", ["b"]), ("gamma", ["a", "b"])):
        created = await admin.post("/api/jobs", json={**HTTP_JOB, "name": name, "tags": tags})
        assert created.status_code == 201
    api.clock.advance(60)
    await admin.post("/api/jobs/beta/disable")

    async def names(**params: object) -> list[str]:
        response = await admin.get("/api/jobs", params=params)
        assert response.status_code == 200, response.text
        return [j["name"] for j in response.json()["items"]]

    assert await names() == ["alpha", "beta", "gamma"]
    assert await names(tag="a") == ["alpha", "gamma"]
    assert await names(name="MM") == ["gamma"]
    assert await names(enabled=False) == ["beta"]
    assert await names(kind="http", removed=False) == ["alpha", "beta", "gamma"]
    assert await names(kind="shell") == []
    assert (await names(sort="updated_at"))[0] == "beta"  # changed last
    page = (await admin.get("/api/jobs", params={"limit": 2, "page": 2})).json()
    assert [j["name"] for j in page["items"]] == ["gamma"]
    assert page["total"] == 3


async def test_patch_changes_and_keeps_the_rest(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json={**HTTP_JOB, "description": "first"})
    before = (await admin.get("/api/jobs/ping")).json()
    # Minute 17 never coincides with the */5 rhythm, so the next fire must move.
    changed = await admin.patch("/api/jobs/ping", json={"schedule": "17 3 * * *"})
    assert changed.status_code == 200, changed.text
    job = changed.json()
    assert job["schedule"] == "17 3 * * *" and job["description"] == "first"
    assert job["next_fire_at"] != before["next_fire_at"]
    assert datetime.fromisoformat(job["next_fire_at"]).minute == 17
    removed_key = await admin.patch("/api/jobs/ping", json={"description": None})
    assert removed_key.json()["description"] == ""
    bad = await admin.patch("/api/jobs/ping", json={"schedule": "every tuesday-ish"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "schedule"


async def test_definitions_from_config_cannot_be_changed_over_the_api(
    api: Api, admin: httpx.AsyncClient
) -> None:
    defn = TaskDefinition(
        name="from-toml", target=HttpTarget(url="http://127.0.0.1:9/"), source=TaskSource.CONFIG
    )
    await api.ctx.service.sync_definitions([defn], [TaskSource.CONFIG])
    for response in (
        await admin.patch("/api/jobs/from-toml", json={"description": "x"}),
        await admin.delete("/api/jobs/from-toml"),
    ):
        assert response.status_code == 409
        assert error_of(response)["code"] == "conflict"
    # ...but they can be switched off and on, and triggered.
    assert (await admin.post("/api/jobs/from-toml/disable")).json()["enabled"] is False
    assert (await admin.post("/api/jobs/from-toml/enable")).json()["enabled"] is True


async def test_delete_keeps_history_and_cancels_pending(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json=HTTP_JOB)
    queued = (await admin.post("/api/queue", json={"task": "ping", "delay": "1h"})).json()
    deleted = await admin.delete("/api/jobs/ping")
    assert deleted.status_code == 200
    assert deleted.json()["removed"] is True and deleted.json()["next_fire_at"] is None
    job = (await admin.get(f"/api/queue/{queued['id']}")).json()["job"]
    assert job["state"] == "cancelled"
    assert (await admin.get("/api/jobs/ping")).json()["removed"] is True
    refused = await admin.post("/api/jobs/ping/trigger")
    assert refused.status_code == 422


async def test_enable_disable_moves_the_next_fire(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json=HTTP_JOB)
    disabled = (await admin.post("/api/jobs/ping/disable")).json()
    assert disabled["enabled"] is False and disabled["next_fire_at"] is None
    enabled = (await admin.post("/api/jobs/ping/enable")).json()
    assert enabled["enabled"] is True and enabled["next_fire_at"] is not None


async def test_trigger_queues_a_run_now(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json=HTTP_JOB)
    response = await admin.post("/api/jobs/ping/trigger")
    assert response.status_code == 202, response.text
    body = response.json()
    job = (await admin.get(f"/api/queue/{body['job_id']}")).json()["job"]
    assert job == body["job"]
    assert job["task"] == "ping" and job["state"] == "available"
    assert job["triggered_by"] == "api"
    missing = await admin.post("/api/jobs/nope/trigger")
    assert missing.status_code == 404


async def test_next_fires(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/jobs", json={**HTTP_JOB, "schedule": "0 9 * * *"})
    fires = (await admin.get("/api/jobs/ping/next", params={"count": 3})).json()
    assert len(fires) == 3
    times = [datetime.fromisoformat(f["fire_at"]) for f in fires]
    assert all(t.hour == 9 and t.minute == 0 for t in times)
    assert times == sorted(times) and times[0] > api.clock.now()
    await admin.post("/api/jobs", json={"name": "manual", "http": HTTP_JOB["http"]})
    unscheduled = await admin.get("/api/jobs/manual/next")
    assert unscheduled.status_code == 422 and error_of(unscheduled)["field"] == "schedule"


async def test_runs_of_a_job_are_paged(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping", "other")
    ids = [await add_run(api, "ping") for _ in range(5)]
    await add_run(api, "other")
    first = (await admin.get("/api/jobs/ping/runs", params={"limit": 3})).json()
    assert [r["job_id"] for r in first["items"]] == ids[::-1][:3]
    second = (
        await admin.get("/api/jobs/ping/runs", params={"limit": 3, "cursor": first["next_cursor"]})
    ).json()
    assert [r["job_id"] for r in second["items"]] == ids[::-1][3:]
    assert second["next_cursor"] is None
    assert (await admin.get("/api/jobs/nope/runs")).status_code == 404


def test_tickwork_run_serves_the_api_beside_its_worker(tmp_path: Path) -> None:
    """A job defined and triggered over the API of `tickwork run` is run by its worker."""
    target = RecordingServer()
    port = free_port()
    proc = start_tickwork(
        ["run", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/t.db"], tmp_path
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def served() -> bool:
            try:
                return httpx.get(f"{base}/api/jobs").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(served)
        job = {"name": "hook", "http": {"url": f"http://127.0.0.1:{target.port}/hook"}}
        assert httpx.post(f"{base}/api/jobs", json=job).status_code == 201
        triggered = httpx.post(f"{base}/api/jobs/hook/trigger")
        assert triggered.status_code == 202

        def finished() -> list[dict[str, object]]:
            runs: list[dict[str, object]] = httpx.get(f"{base}/api/runs").json()["items"]
            return runs

        (run,) = wait_for(finished)
        assert run["status"] == "succeeded" and run["job_id"] == triggered.json()["job_id"]
        assert target.requests == [("GET", "/hook")]
    finally:
        out = stop(proc)
        target.close()
    assert "API listening on http://127.0.0.1:" in out


async def test_list_filters_by_the_latest_run_status(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ok", "broken", "idle")
    await add_run(api, "ok", RunStatus.FAILED)
    await add_run(api, "ok", RunStatus.SUCCEEDED)  # the latest one counts
    await add_run(api, "broken", RunStatus.SUCCEEDED)
    await add_run(api, "broken", RunStatus.FAILED)

    async def names(status: str) -> list[str]:
        response = await admin.get("/api/jobs", params={"status": status})
        assert response.status_code == 200, response.text
        return [j["name"] for j in response.json()["items"]]

    assert await names("succeeded") == ["ok"]
    assert await names("failed") == ["broken"]
    assert await names("never") == ["idle"]
    listed = {
        j["name"]: j["last_run_status"] for j in (await admin.get("/api/jobs")).json()["items"]
    }
    assert listed == {"ok": "succeeded", "broken": "failed", "idle": None}
    assert (await admin.get("/api/jobs/broken")).json()["last_run_status"] == "failed"
    bad = await admin.get("/api/jobs", params={"status": "great"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "status"
