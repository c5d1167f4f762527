"""Runs over the API: filters, sorts, cursor and page paging, one run in full."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.api.conftest import Api, add_run, define, error_of
from tickwork.domain.jobs import RunStatus


async def seed(api: Api) -> dict[str, list[int]]:
    """Runs of two tasks at increasing times and durations; job IDs by task."""
    await define(api, "ping", "other")
    start = api.clock.now() - timedelta(hours=1)
    ids: dict[str, list[int]] = {"ping": [], "other": []}
    for i in range(6):
        task = "ping" if i % 3 else "other"
        status = RunStatus.FAILED if i == 4 else RunStatus.SUCCEEDED
        at = start + timedelta(minutes=i)
        ids[task].append(await add_run(api, task, status, seconds=10 - i, at=at, output=f"o{i}"))
    return ids


async def job_ids(client: httpx.AsyncClient, **params: object) -> list[int]:
    response = await client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    return [r["job_id"] for r in response.json()["items"]]


async def test_filters(api: Api, admin: httpx.AsyncClient) -> None:
    ids = await seed(api)
    assert await job_ids(admin, job="ping") == ids["ping"][::-1]
    (failed,) = await job_ids(admin, status="failed")
    assert failed in ids["ping"]
    assert await job_ids(admin, job_id=failed) == [failed]
    every = await job_ids(admin)
    assert len(every) == 6
    start = api.clock.now() - timedelta(hours=1)
    window = {"from": (start + timedelta(minutes=2)).isoformat()}
    window["to"] = (start + timedelta(minutes=4)).isoformat()
    assert await job_ids(admin, **window) == every[2:4]
    assert await job_ids(admin, triggered_by="scheduler") == []


async def test_sorts(api: Api, admin: httpx.AsyncClient) -> None:
    await seed(api)
    newest_first = await job_ids(admin)
    assert await job_ids(admin, order="asc") == newest_first[::-1]
    # Durations fall as runs get newer: shortest first is newest first.
    assert await job_ids(admin, sort="duration", order="asc") == newest_first
    response = await admin.get("/api/runs", params={"sort": "duration", "order": "desc"})
    durations = [r["duration_seconds"] for r in response.json()["items"]]
    assert durations == sorted(durations, reverse=True)


@pytest.mark.parametrize(
    "params", [{}, {"order": "asc"}, {"sort": "duration"}, {"sort": "finished_at", "order": "asc"}]
)
async def test_cursor_pages_cover_everything_once(
    api: Api, admin: httpx.AsyncClient, params: dict[str, str]
) -> None:
    await seed(api)
    whole = await job_ids(admin, **params)
    seen: list[int] = []
    cursor = None
    while True:
        query = {**params, "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get("/api/runs", params=query)).json()
        seen += [r["job_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole


async def test_page_numbers(api: Api, admin: httpx.AsyncClient) -> None:
    await seed(api)
    whole = await job_ids(admin)
    assert await job_ids(admin, page=2, limit=4) == whole[4:]
    both = await admin.get("/api/runs", params={"page": 2, "cursor": 5})
    assert both.status_code == 422 and error_of(both)["field"] == "page"


async def test_one_run_in_full(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    await add_run(api, "ping", RunStatus.FAILED, output="some output")
    (listed,) = (await admin.get("/api/runs")).json()["items"]
    assert "output" not in listed and "traceback" not in listed  # lists stay light
    run = (await admin.get(f"/api/runs/{listed['id']}")).json()
    assert run["status"] == "failed" and run["error_type"] == "Boom"
    assert run["output"] == "some output" and run["traceback"] == "Traceback: boom"
    assert run["error_message"] == "it broke"
    ok_job = await add_run(api, "ping")
    (ok,) = (await admin.get("/api/runs", params={"job_id": ok_job})).json()["items"]
    assert (await admin.get(f"/api/runs/{ok['id']}")).json()["metrics"] == {"processed": 3}


@pytest.mark.postgres
async def test_runs_on_both_backends(api_any: Api) -> None:
    token = await api_any.token()
    async with api_any.as_token(token) as client:
        ids = await seed(api_any)
        assert await job_ids(client, job="other") == ids["other"][::-1]
        page = (await client.get("/api/runs", params={"limit": 2, "sort": "duration"})).json()
        rest = await job_ids(client, limit=10, sort="duration", cursor=page["next_cursor"])
        assert [r["job_id"] for r in page["items"]] + rest == await job_ids(client, sort="duration")
