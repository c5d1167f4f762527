"""``GET /api/report`` (JSON and the e-mail's HTML) over a real server, for a read-only token;
its figures are those of known runs written through the store (tests/service/report_data.py)."""

from __future__ import annotations

from tests.api.conftest import Api, error_of
from tests.service.report_data import ReportPage, alert_settings, seed
from tickwork.domain.access import Role


async def test_json_and_html_for_a_reader(api_any: Api) -> None:
    api = api_any
    api.ctx.service.ctx.alerts = alert_settings()
    seeded = await seed(api.store, api.clock.now())
    async with api.as_token(await api.token(Role.READ_ONLY)) as reader:
        answer = await reader.get("/api/report", params={"since": "7d"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["start"].startswith(seeded.start.date().isoformat())
        assert body["totals"]["runs"] == 21 and body["totals"]["failed"] == 3
        assert body["totals"]["missed"] == 2
        jobs = {j["task"]: j for j in body["jobs"]}
        assert set(jobs) >= {"hourly", "daily", "adhoc", "nightly"}
        assert "tickwork.notify" not in jobs and "idle" not in jobs
        hourly = jobs["hourly"]
        assert (hourly["runs"], hourly["succeeded"], hourly["missed"]) == (12, 10, 2)
        assert hourly["missed_by_reason"] == {"no_scheduler": 2}
        assert [f["count"] for f in body["failures"]] == [2, 1]
        assert [i["subject"] for i in body["incidents"]] == [
            "task:daily",
            "task:adhoc",
            "task:hourly",
        ]
        assert body["incidents"][1]["ended_at"] is None
        assert [p["task"] for p in body["paused"]] == ["nightly"] and body["disabled"] == ["off"]
        assert body["checks"] == []

        for answer in (
            await reader.get("/api/report", params={"format": "html"}),
            await reader.get("/api/report.html"),
        ):
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(
                "text/html"
            )
            page = ReportPage(answer.text)
            assert page.figures["runs"] == "21" and page.rows["job"]["hourly"]["runs"] == "12"

        bad = await reader.get("/api/report", params={"since": "soon"})
        assert bad.status_code == 422 and error_of(bad)["field"] == "since"
        unknown = await reader.get("/api/report", params={"format": "pdf"})
        assert unknown.status_code == 422
    assert (await api.client.get("/api/report")).status_code in (200, 401)


async def test_checks_uptime_in_the_json(api_any: Api) -> None:
    api = api_any
    checks = api.ctx.service.checks
    made = await checks.create({"name": "db-backup", "period": "1h", "grace": "10m"})
    pinged = await api.client.post(f"/ping/{made.check.uuid}")  # no credentials needed
    assert pinged.status_code == 200, pinged.text
    api.clock.advance(80 * 60)  # up 60 min, late 10, down 10
    async with api.as_token(await api.token(Role.READ_ONLY)) as reader:
        body = (await reader.get("/api/report")).json()
    (check,) = body["checks"]
    assert check["name"] == "db-backup" and check["status"] == "down"
    assert (check["up_seconds"], check["late_seconds"], check["down_seconds"]) == (3600, 600, 600)
    assert check["uptime"] == 4200 / 4800 and check["paused_seconds"] == 0
