"""Explain, the load preview and the schedule preview's notes over the API:
``GET /api/jobs/{name}/explain``, ``GET /api/load``, ``GET /api/schedules/preview``. A real
server over a real store of each backend."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, add_run, define, error_of
from tickwork.domain.access import Role
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.jobs import RunStatus


async def test_explain_answers_each_fire_of_the_window(api_any: Api) -> None:
    await define(api_any, "ping")  # every 5 minutes
    now = api_any.clock.now()
    fire = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 5)
    await api_any.store.add_missed_fires(
        [NewMissedFire("ping", fire, MissedReason.MISFIRE, "too late")], now
    )
    async with api_any.as_token(await api_any.token(Role.READ_ONLY, user="vi")) as viewer:
        response = await viewer.get(
            "/api/jobs/ping/explain", params={"at": now.isoformat(), "window": "10m"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["job"] == "ping" and body["schedule"] == "*/5 * * * *"
        by_time = {f["fire_at"]: f for f in body["fires"]}
        missed = by_time[fire.isoformat().replace("+00:00", "Z")]
        assert missed["outcome"] == "missed" and missed["missed"]["reason"] == "misfire"
        assert "too late" in missed["summary"]
        assert {f["outcome"] for f in body["fires"]} >= {"missed", "upcoming"}
        # The definition's creation is a change of the window.
        assert [c["action"] for c in body["changes"]] == ["job.create"]

        bad = await viewer.get("/api/jobs/ping/explain", params={"window": "often"})
        assert bad.status_code == 422 and error_of(bad)["field"] == "window"
        unknown = await viewer.get("/api/jobs/nope/explain")
        assert unknown.status_code == 404


async def test_load_and_preview_notes(api_any: Api) -> None:
    await define(api_any, "ping", "pong")
    await add_run(api_any, "ping", RunStatus.SUCCEEDED, seconds=400)
    async with api_any.as_token(await api_any.token(Role.READ_ONLY, user="vi")) as viewer:
        response = await viewer.get("/api/load", params={"days": 1})
        assert response.status_code == 200, response.text
        load = response.json()
        assert load["schedules"] == 2 and load["total_starts"] == 2 * 288
        assert load["peak_starts"] == 2 and len(load["starts"]) == 1440
        # ping's p95 (about 400 s) exceeds its 5 minutes.
        assert [r["job"] for r in load["long_runs"]] == ["ping"]
        assert load["no_duration"] == ["pong"]
        assert {p["job"] for p in load["proposals"]} == {"ping", "pong"}
        assert (await viewer.get("/api/load", params={"days": 0})).status_code == 422

        preview = await viewer.get(
            "/api/schedules/preview",
            params={
                "expression": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "count": 1,
            },
        )
        assert preview.status_code == 200, preview.text
        (item,) = preview.json()["items"]
        assert item["fire_at"] == preview.json()["fires"][0]
        assert isinstance(item["notes"], list)
