"""Heartbeat checks over HTTP, on both backends: the CRUD of /api/checks (and who may do what),
and the ping endpoints as cron jobs call them: success, start, fail, exit status, log, rid,
the slug form with the ping key and ?create=1, bodies cut at 10 KiB, unknown checks, and the
per-check rate limit."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import TEST_SETTINGS, Api, error_of, running_api
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.limits import RateLimit

PING_KEY = "pk-0123456789abcdef"
SETTINGS = dataclasses.replace(TEST_SETTINGS, ping_key=PING_KEY, ping_rate_limit=None)


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[Api]:
    async with running_api(db_url, SETTINGS) as running:
        yield running


async def _create(client: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    response = await client.post("/api/checks", json={"name": "backup", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_crud_and_scopes(site: Api) -> None:
    async with (
        site.as_token(await site.token(Role.ADMIN)) as admin,
        site.as_token(await site.token(Role.READ_ONLY)) as viewer,
    ):
        made = await _create(admin, period="1h", grace="10m", tags=["db"])
        assert made["status"] == "new" and made["period_seconds"] == 3600
        assert made["grace_seconds"] == 600 and made["source"] == "api"
        assert uuid.UUID(str(made["uuid"]))
        again = await admin.post("/api/checks", json={"name": "backup"})
        assert again.status_code == 409
        bad = await admin.post("/api/checks", json={"name": "Bad Name", "period": "1h"})
        assert bad.status_code == 422 and error_of(bad)["field"] == "name"
        both = await admin.post(
            "/api/checks", json={"name": "x", "period": 60, "cron": "* * * * *"}
        )
        assert both.status_code == 422 and error_of(both)["field"] == "cron"
        zone = await admin.post(
            "/api/checks", json={"name": "x", "cron": "0 3 * * *", "timezone": "Mars/Base"}
        )
        assert zone.status_code == 422 and error_of(zone)["field"] == "timezone"
        listed = (await viewer.get("/api/checks")).json()
        assert [c["name"] for c in listed] == ["backup"]
        assert (await viewer.get("/api/checks", params={"tag": "nope"})).json() == []
        by_uuid = await viewer.get(f"/api/checks/{made['uuid']}")
        assert by_uuid.json()["name"] == "backup"
        assert (await viewer.post("/api/checks", json={"name": "y"})).status_code == 403
        assert (await viewer.post("/api/checks/backup/pause")).status_code == 403
        changed = await admin.patch(
            "/api/checks/backup", json={"cron": "0 3 * * *", "timezone": "Europe/Berlin"}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["period_seconds"] is None and changed.json()["cron"] == "0 3 * * *"
        paused = await admin.post("/api/checks/backup/pause")
        assert paused.json()["status"] == "paused"
        resumed = await admin.post("/api/checks/backup/resume")
        assert resumed.json()["status"] == "new"
        assert (await admin.delete("/api/checks/backup")).status_code == 204
        assert (await admin.get("/api/checks/backup")).status_code == 404
    actions = [e.action for e in await site.ctx.service.audit_log(AuditQuery(limit=20))]
    for action in ("check.create", "check.update", "check.pause", "check.resume", "check.delete"):
        assert action in actions


async def test_pings_of_a_run_and_their_effects(site: Api) -> None:
    async with site.as_token(await site.token(Role.ADMIN)) as admin:
        made = await _create(admin, period="1h", grace="10m")
        ping = f"/ping/{made['uuid']}"
        client = site.client
        assert (await client.get(f"{ping}/start", params={"rid": "r1"})).text == "OK"
        site.clock.advance(90)
        done = await client.post(ping, params={"rid": "r1"}, content=b"42 rows\n")
        assert done.status_code == 200 and done.text == "OK"
        check = (await admin.get("/api/checks/backup")).json()
        assert check["status"] == "up" and check["last_duration_seconds"] == 90
        assert check["running"] is False
        site.clock.advance(3600 + 60)
        assert (await admin.get("/api/checks/backup")).json()["status"] == "late"
        site.clock.advance(600)
        down = (await admin.get("/api/checks/backup")).json()
        assert down["status"] == "down" and "no ping since" in down["why"]
        assert (await client.get(f"{ping}/0")).status_code == 200
        assert (await admin.get("/api/checks/backup")).json()["status"] == "up"
        assert (await client.post(f"{ping}/log", content=b"halfway")).status_code == 200
        assert (await admin.get("/api/checks/backup")).json()["status"] == "up"
        assert (await client.get(f"{ping}/3")).status_code == 200
        failed = (await admin.get("/api/checks/backup")).json()
        assert failed["status"] == "down" and "exit status 3" in failed["why"]
        assert (await client.get(f"{ping}/fail")).status_code == 200
        assert (await client.get(ping)).status_code == 200
        # A start that does not finish within the grace time: down.
        assert (await client.get(f"{ping}/start")).status_code == 200
        assert (await admin.get("/api/checks/backup")).json()["running"] is True
        site.clock.advance(601)
        stuck = (await admin.get("/api/checks/backup")).json()
        assert stuck["status"] == "down" and "did not finish" in stuck["why"]
        pings = (await admin.get("/api/checks/backup/pings")).json()
        kinds = [p["kind"] for p in pings]
        assert kinds == ["start", "success", "fail", "fail", "log", "success", "success", "start"]
        assert pings[3]["exit_status"] == 3 and pings[5]["exit_status"] == 0
        assert pings[4]["body"] == "halfway" and pings[6]["body"] == "42 rows\n"
        assert pings[6]["rid"] == "r1" and pings[6]["duration_seconds"] == 90
        assert pings[6]["method"] == "POST" and pings[6]["remote_addr"] == "127.0.0.1"
        page = (await admin.get("/api/checks/backup/pings", params={"limit": 2})).json()
        older = await admin.get(
            "/api/checks/backup/pings", params={"before_id": page[-1]["id"], "limit": 1}
        )
        assert [p["kind"] for p in older.json()] == ["fail"]


async def test_bodies_are_cut_at_10_kib(site: Api) -> None:
    async with site.as_token(await site.token(Role.ADMIN)) as admin:
        made = await _create(admin)
        body = b"x" * 20_000
        assert (await site.client.post(f"/ping/{made['uuid']}/fail", content=body)).text == "OK"
        [ping] = (await admin.get("/api/checks/backup/pings")).json()
    assert len(ping["body"]) == 10 * 1024 and ping["body_bytes"] == 20_000


async def test_unknown_checks_and_bad_pings(site: Api) -> None:
    client = site.client
    for path in (f"/ping/{uuid.uuid4()}", "/ping/not-a-uuid", f"/ping/{uuid.uuid4()}/start"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["message"] == "no such check"
    async with site.as_token(await site.token(Role.ADMIN)) as admin:
        made = await _create(admin)
    bad = await client.get(f"/ping/{made['uuid']}/explode")
    assert bad.status_code == 422 and error_of(bad)["field"] == "action"
    assert (await client.get(f"/ping/{made['uuid']}/256")).status_code == 422
    rid = await client.get(f"/ping/{made['uuid']}", params={"rid": "a b"})
    assert rid.status_code == 422 and error_of(rid)["field"] == "rid"
    unknown = await client.get(f"/ping/{made['uuid']}", params={"n": "1"})
    assert unknown.status_code == 422


async def test_slug_form_with_the_ping_key_and_create(site: Api) -> None:
    client = site.client
    assert (await client.get(f"/ping/{PING_KEY}/nightly")).status_code == 404
    made = await client.get(f"/ping/{PING_KEY}/nightly/start", params={"create": 1})
    assert made.status_code == 201 and made.text == "Created"
    again = await client.get(f"/ping/{PING_KEY}/nightly", params={"create": 1})
    assert again.status_code == 200 and again.text == "OK"
    assert (await client.get("/ping/wrong-key-0123456789/nightly")).status_code == 404
    check = await site.ctx.service.checks.get("nightly")
    assert check.check.source.value == "ping" and check.check.pings == 2
    assert check.check.last_duration_seconds == 0
    audit = await site.ctx.service.audit_log(AuditQuery(action="check.create", limit=5))
    assert [(e.actor, e.target) for e in audit] == [("ping", "nightly")]


async def test_the_slug_form_is_off_without_a_ping_key(sqlite_url: str) -> None:
    async with running_api(sqlite_url) as site:
        response = await site.client.get("/ping/any-key-0123456789/nightly", params={"create": 1})
        assert response.status_code == 404
        assert await site.ctx.service.checks.list_all() == []


async def test_pings_are_rate_limited_per_check_and_address(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dataclasses.replace(SETTINGS, ping_rate_limit=RateLimit(3, 60.0))
    async with running_api(sqlite_url, settings) as site:
        one = await site.ctx.service.checks.create({"name": "one"})
        two = await site.ctx.service.checks.create({"name": "two"})
        with caplog.at_level(logging.INFO, logger="tickwork.api.access"):
            codes = [
                (await site.client.get(f"/ping/{one.check.uuid}")).status_code for _ in range(4)
            ]
        assert codes == [200, 200, 200, 429]
        limited = await site.client.get(f"/ping/{one.check.uuid}")
        assert int(limited.headers["retry-after"]) >= 1
        assert error_of(limited)["code"] == "rate_limited"
        assert (await site.client.get(f"/ping/{two.check.uuid}")).status_code == 200
        assert (await site.ctx.service.checks.get("one")).check.pings == 3
    # The access log does not show the check's ping address.
    assert "/ping/***" in caplog.text and one.check.uuid not in caplog.text


async def test_config_checks_change_only_in_the_file(site: Api) -> None:
    from tickwork.domain.checks import CheckSpec

    await site.ctx.service.checks.sync([CheckSpec("from-file", period_seconds=60)])
    async with site.as_token(await site.token(Role.ADMIN)) as admin:
        response = await admin.patch("/api/checks/from-file", json={"grace": "5m"})
        assert response.status_code == 409 and "tickwork.toml" in error_of(response)["message"]
        assert (await admin.delete("/api/checks/from-file")).status_code == 409
        assert (await admin.post("/api/checks/from-file/pause")).status_code == 200
