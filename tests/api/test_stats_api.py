"""``GET /api/stats`` and the insights' findings, on a real server over both backends: figures
from the rollups that real completions wrote, and bad input named."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, add_run, define, error_of
from tickwork.domain.jobs import RunStatus


async def test_stats_from_real_completions(api_any: Api) -> None:
    api = api_any
    await define(api, "ping", "pong")
    now = api.clock.now()
    for seconds in (1.0, 2.0, 3.0):
        await add_run(api, "ping", seconds=seconds, at=now - timedelta(hours=2))
    await add_run(api, "ping", RunStatus.FAILED, seconds=4.0, at=now - timedelta(hours=1))
    await add_run(api, "pong", seconds=10.0, at=now - timedelta(days=2))

    response = await api.client.get("/api/stats", params={"since": "1d"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period_seconds"] == 3600 and body["by"] is None
    (ping,) = body["tasks"]
    assert ping["task"] == "ping" and ping["runs"] == 4
    assert ping["by_status"] == {"failed": 1, "succeeded": 3}
    assert ping["success_rate"] == 0.75 and ping["avg_duration_seconds"] == 2.5
    assert 2.0 / 1.42 <= ping["p50_duration_seconds"] <= 2.0 * 1.42
    assert 4.0 / 1.42 <= ping["p99_duration_seconds"] <= 4.0 * 1.42
    assert sum(p["runs"] for p in body["hourly"]) == 4
    assert body["errors_by_class"] == [{"error_class": "unknown", "count": 1}]
    (error,) = body["errors"]
    assert error["error_type"] == "Boom" and error["message"] == "it broke"

    week = (await api.client.get("/api/stats", params={"since": "7d", "by": "day"})).json()
    assert [t["task"] for t in week["tasks"]] == ["ping", "pong"]
    assert week["overall"]["runs"] == 5 and week["errors"] == [] and week["daily"]
    only = await api.client.get("/api/stats", params={"since": "7d", "task": "pong"})
    assert [t["task"] for t in only.json()["tasks"]] == ["pong"]
    # A short range is read from minute rows.
    short = (await api.client.get("/api/stats", params={"since": "90m"})).json()
    assert short["period_seconds"] == 60 and short["overall"]["runs"] == 1


async def test_stats_refuse_bad_input(api: Api) -> None:
    cases = {
        "since=yesterday": "since",
        "since=2026-01-01T00:00:00": "since",  # no offset
        "until=soon": "until",
        "since=1d&until=2000-01-01": "since",  # after until
        "since=800d": "end",  # longer than a year
        "by=week": "by",
        "trigger=api": "trigger",  # not kept in rollups
        "sort=runs": "sort",  # not a parameter of the route
    }
    for query, field in cases.items():
        response = await api.client.get(f"/api/stats?{query}")
        assert response.status_code == 422, (query, response.text)
        assert error_of(response)["field"] == field, query


async def test_insights_carry_findings(api: Api) -> None:
    await define(api, "ping")
    now = api.clock.now()
    for minutes in (10, 20, 30):
        await add_run(api, "ping", RunStatus.FAILED, at=now - timedelta(minutes=minutes))
    response = await api.client.get("/api/cron/insights")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["task"] for t in body["always_failing"]] == ["ping"]
    (finding,) = [f for f in body["findings"] if f["rule"] == "always_failing"]
    assert finding["task"] == "ping" and finding["suggestion"]
    assert finding["evidence"]["failed"] == 3 and finding["evidence"]["since"]
