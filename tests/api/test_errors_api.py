"""Bad input gets a 4xx JSON error naming the problem; every response has its security
headers and request ID; the rate limit answers 429 with Retry-After."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.api.conftest import HTTP_JOB, TEST_SETTINGS, Api, error_of, running_api
from tickwork.domain.limits import RateLimit
from tickwork.logs import TextFormatter


async def test_body_that_is_not_json_is_400(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/jobs", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_request"
    assert "not valid JSON" in error["message"]


async def test_missing_field_is_named(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/queue", json={"args": []})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "task"
    assert "required" in error["message"]


async def test_unknown_field_is_named(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/queue", json={"task": "ping", "prority": 3})
    assert response.status_code == 422
    assert error_of(response)["field"] == "prority"


async def test_unknown_key_of_a_job_table_is_named(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/jobs", json={**HTTP_JOB, "shedule": "* * * * *"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "shedule"
    assert "did you mean 'schedule'" in error["message"]


async def test_bad_cron_expression_is_named(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/jobs", json={**HTTP_JOB, "schedule": "61 * * * *"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "schedule"
    assert "'ping'" in error["message"]


async def test_unknown_timezone_is_named(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/jobs", json={**HTTP_JOB, "timezone": "Mars/Olympus"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "timezone"
    assert "Mars/Olympus" in error["message"]


async def test_body_of_the_wrong_type_is_422(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/jobs", json=["not", "a", "table"])
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/runs?limit=0", "limit"),
        ("/api/runs?limit=1001", "limit"),
        ("/api/runs?status=exploded", "status"),
        ("/api/runs?sort=colour", "sort"),
        ("/api/runs?from=yesterday", "from"),
        ("/api/queue/notanumber", "job_id"),
        ("/api/queue/99999999999999999999", "job_id"),
    ],
)
async def test_bad_parameters_are_named(admin: httpx.AsyncClient, path: str, field: str) -> None:
    response = await admin.get(path)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["field"] == field
    assert field in error["message"]


async def test_naive_time_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/api/runs", params={"from": "2026-01-01T00:00:00"})
    assert response.status_code == 422
    assert "UTC offset" in error_of(response)["message"]


async def test_unknown_things_are_404(admin: httpx.AsyncClient) -> None:
    for path in ("/api/jobs/nope", "/api/queue/12345", "/api/runs/12345", "/api/nothing"):
        response = await admin.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


async def test_wrong_method_is_405_json(admin: httpx.AsyncClient) -> None:
    response = await admin.put("/api/jobs")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


async def test_conflict_is_409(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/api/jobs", json=HTTP_JOB)).status_code == 201
    again = await admin.post("/api/jobs", json=HTTP_JOB)
    assert again.status_code == 409
    assert error_of(again)["code"] == "conflict"


async def test_every_response_has_security_headers(api: Api, admin: httpx.AsyncClient) -> None:
    for response in (
        await admin.get("/api/jobs"),
        await admin.get("/api/jobs/nope"),
        await api.client.get("/api/jobs"),  # 401
        await admin.get("/api/docs"),
    ):
        headers = response.headers
        assert headers["content-security-policy"] == "default-src 'self'"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"


async def test_request_id_is_kept_or_made(admin: httpx.AsyncClient) -> None:
    kept = await admin.get("/api/jobs", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    made = await admin.get("/api/jobs", headers={"X-Request-ID": "no spaces <allowed>"})
    assert made.headers["x-request-id"] not in ("", "no spaces <allowed>")
    other = await admin.get("/api/jobs")
    assert len({made.headers["x-request-id"], other.headers["x-request-id"]}) == 2


async def test_request_id_is_in_the_log_and_the_audit(
    admin: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.api")
    response = await admin.post("/api/jobs", json=HTTP_JOB, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 201
    text = TextFormatter()
    assert any(
        "POST /api/jobs 201" in r.getMessage() and "request_id=req-42" in text.format(r)
        for r in caplog.records
    )
    entries = (await admin.get("/api/audit", params={"action": "job.create"})).json()["items"]
    assert [e["request_id"] for e in entries] == ["req-42"]


async def test_docs_page_is_offline(admin: httpx.AsyncClient) -> None:
    page = await admin.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/jobs/{name}/trigger" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no external assets
    assert "<script" not in page.text
    css = await admin.get("/api/docs.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    spec = (await admin.get("/api/openapi.json")).json()
    assert "/api/runs" in spec["paths"]


async def test_rate_limit_answers_429_with_retry_after(sqlite_url: str) -> None:
    settings = TEST_SETTINGS.replace(rate_limit=RateLimit(3, 60.0))
    async with running_api(sqlite_url, settings) as api:
        statuses = [(await api.client.get("/api/jobs")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]  # the burst
        limited = await api.client.get("/api/jobs")
        assert limited.status_code == 429
        assert error_of(limited)["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert limited.headers["x-content-type-options"] == "nosniff"
        # Another caller (another token) has its own allowance.
        other = await api.client.get("/api/jobs", headers={"Authorization": "Bearer tw_1_x"})
        assert other.status_code == 401


async def test_cors_is_off_by_default_and_configurable(api: Api, sqlite_url: str) -> None:
    origin = {"Origin": "https://ops.example.com"}
    plain = await api.client.get("/api/jobs", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    settings = TEST_SETTINGS.replace(cors_origins=("https://ops.example.com",))
    async with running_api(sqlite_url, settings) as other:
        allowed = await other.client.get("/api/jobs", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
        preflight = await other.client.options(
            "/api/jobs",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["x-frame-options"] == "DENY"


@pytest.mark.postgres
async def test_nul_characters_are_bad_input_on_both_backends(api_any: Api) -> None:
    """PostgreSQL cannot store NUL: it must be a 4xx, not a 503 from the store."""
    async with api_any.as_token(await api_any.token()) as client:
        assert (await client.get("/api/jobs/a%00b")).status_code == 400
        assert (await client.get("/api/runs", params={"job": "a\x00b"})).status_code == 400
        body = {**HTTP_JOB, "description": "nul \x00 here"}
        created = await client.post("/api/jobs", json=body)
        assert created.status_code == 422 and error_of(created)["field"] == "description"
        queued = await client.post("/api/queue", json={"task": "t", "kwargs": {"k": "\x00"}})
        assert queued.status_code == 422 and error_of(queued)["field"] == "kwargs.k"


async def test_an_unknown_query_parameter_is_named_not_ignored(
    api: Api, admin: httpx.AsyncClient
) -> None:
    created = await admin.post("/api/jobs", json=HTTP_JOB)
    assert created.status_code == 201, created.text
    response = await admin.get("/api/jobs/ping/next", params={"n": 3})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "n"
    assert "unknown query parameter 'n'" in error["message"] and "count" in error["message"]
    # The parameters a route takes, its dependencies' and aliases included, still work.
    assert len((await admin.get("/api/jobs/ping/next", params={"count": 3})).json()) == 3
    metrics = await admin.get("/api/cron/metrics", params={"jobType": "ping"})
    assert metrics.status_code == 200, metrics.text


async def test_every_route_refuses_unknown_query_parameters(
    api: Api, admin: httpx.AsyncClient
) -> None:
    # One mechanism for every route: each operation of the OpenAPI document (and the pages
    # left out of it) answers 422 naming the parameter, before doing anything.
    document = (await admin.get("/api/openapi.json")).json()
    values = {
        "{name}": "ping",
        "{job_id}": "1",
        "{run_id}": "1",
        "{token_id}": "1",
        "{fingerprint}": "0123abcd",
        "{backfill_id}": "1",
    }
    # Heartbeat checks (by name) and their pings (by UUID, or ping key and slug).
    values.update({"{key}": "backup", "{uuid}": "backup", "{first}": "k", "{second}": "s"})
    values.update({"{slug}": "s", "{action}": "start"})
    operations = []
    for template, item in document["paths"].items():
        path = template
        for placeholder, value in values.items():
            path = path.replace(placeholder, value)
        assert "{" not in path, template
        operations += [(method.upper(), path) for method in item]
    assert len(operations) >= 39
    for method, path in [*operations, ("GET", "/api/docs"), ("GET", "/api/openapi.json")]:
        response = await admin.request(method, path, params={"bogus": "1"})
        assert response.status_code == 422, (method, path, response.text)
        assert error_of(response)["field"] == "bogus", (method, path)
    assert await api.ctx.service.list_tasks() == []  # nothing was done
