"""Pausing a job over the API: POST /api/jobs/{name}/pause and /resume (scope jobs:trigger), and
the pause in the job's JSON. A real server over a real store of each backend."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.api.conftest import Api, define, error_of
from tests.api.test_metrics_api import scrape
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.tasks import MAX_PAUSE_REASON


async def test_pause_shows_in_the_job_and_resume_ends_it(api_any: Api) -> None:
    await define(api_any, "ping")
    until = api_any.clock.now() + timedelta(hours=2)
    async with api_any.as_token(await api_any.token(Role.ADMIN, user="ann")) as ann:
        before = (await ann.get("/api/jobs/ping")).json()
        assert before["paused"] is False and before["pause"] is None

        paused = await ann.post(
            "/api/jobs/ping/pause", json={"reason": "vendor outage", "until": until.isoformat()}
        )
        assert paused.status_code == 200, paused.text
        job = paused.json()
        assert job["paused"] is True and job["enabled"] is True  # the old fields stay
        assert job["pause"]["reason"] == "vendor outage" and job["pause"]["paused_by"] == "ann"
        assert job["pause"]["until"] == until.isoformat().replace("+00:00", "Z")
        listed = (await ann.get("/api/jobs")).json()["items"]
        assert [j["pause"]["reason"] for j in listed] == ["vendor outage"]
        for paused_filter, names in (("true", ["ping"]), ("false", [])):
            page = (await ann.get("/api/jobs", params={"paused": paused_filter})).json()
            assert [j["name"] for j in page["items"]] == names

        resumed = await ann.post("/api/jobs/ping/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["paused"] is False and resumed.json()["pause"] is None
    audit = await api_any.ctx.service.audit_log(AuditQuery(action="job.pause"))
    assert audit[0].actor == "ann" and audit[0].after["reason"] == "vendor outage"  # type: ignore[index]


async def test_until_null_pauses_until_resumed(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    response = await admin.post("/api/jobs/ping/pause", json={"reason": "deploy", "until": None})
    assert response.status_code == 200, response.text
    assert response.json()["pause"]["until"] is None


async def test_a_bad_until_is_a_422_naming_the_field(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    past = (api.clock.now() - timedelta(minutes=1)).isoformat()
    for until in (past, "2099-01-01T00:00:00", "tomorrow"):
        response = await admin.post("/api/jobs/ping/pause", json={"reason": "r", "until": until})
        assert response.status_code == 422, (until, response.text)
        assert error_of(response)["field"] == "until", until
    assert (await admin.get("/api/jobs/ping")).json()["paused"] is False


async def test_a_missing_or_long_reason_is_a_422(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    for body in ({}, {"reason": ""}, {"reason": "x" * (MAX_PAUSE_REASON + 1)}):
        response = await admin.post("/api/jobs/ping/pause", json=body)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["field"] == "reason", body


async def test_an_unknown_job_is_a_404(api: Api, admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/jobs/nope/pause", json={"reason": "r"})
    assert response.status_code == 404, response.text
    assert (await admin.post("/api/jobs/nope/resume")).status_code == 404


async def test_a_viewer_may_not_pause_or_resume(api: Api) -> None:
    await define(api, "ping")
    async with api.as_token(await api.token(Role.READ_ONLY)) as viewer:
        assert (await viewer.get("/api/jobs/ping")).status_code == 200
        response = await viewer.post("/api/jobs/ping/pause", json={"reason": "r"})
        assert response.status_code == 403, response.text
        assert (await viewer.post("/api/jobs/ping/resume")).status_code == 403
    assert (await api.ctx.service.get_task("ping")).pause is None


async def test_a_paused_job_has_no_next_fire_in_the_metrics(api_any: Api) -> None:
    await define(api_any, "ping", "pong")
    await api_any.ctx.service.pause_task("pong", "no fires to expect")
    families = await scrape(api_any.client)
    next_fire = families["tickwork_schedule_next_fire_timestamp_seconds"]
    assert {s.labels["task"] for s in next_fire} == {"ping"}
