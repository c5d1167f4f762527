"""The jobs pages over HTTP (issue 12, "Jobs" and "Job detail"): the list with its filters,
keyset paging and sparklines, bulk actions on the whole filtered selection, a job's page, the
edit form with its errors next to the fields, the schedule preview, and what a viewer sees."""

from __future__ import annotations

import re

import httpx

from tests.api.conftest import Api, add_run, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tickwork.domain.access import LOCAL, AuditQuery, Role
from tickwork.domain.jobs import RunStatus
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource

PASSWORD = "correct horse battery"
ROW = re.compile(r'<tr>\s*<td><a href="/jobs/([^"]+)">')


def names_on(html: str) -> list[str]:
    return ROW.findall(html)


async def many(site: Api, count: int) -> list[str]:
    names = [f"job-{i:03d}" for i in range(count)]
    await define(site, *names)
    return names


async def admin_client(site: Api, client: httpx.AsyncClient, name: str = "ada") -> str:
    """Log ``client`` in as an admin user; the CSRF token of its session."""
    await site.ctx.accounts.create_user(name, Role.ADMIN, PASSWORD, actor=LOCAL)
    assert (await log_in(client, name, PASSWORD)).status_code == 303
    return csrf_of((await client.get("/jobs")).text)


async def test_the_list_pages_by_name_with_words_and_sparklines(site_any: Api) -> None:
    site = site_any
    names = await many(site, 120)
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED):
        await add_run(site, "job-000", status, seconds=2.0)
    async with browser(site) as client:
        first = await client.get("/jobs")
        assert first.status_code == 200, first.text
        assert "<h1>Jobs</h1>" in first.text
        assert names_on(first.text) == names[:50]
        assert "120 job(s) match" in first.text
        assert "every 5 minutes" in first.text
        assert 'aria-label="last 3 runs: 2 succeeded, 1 failed"' in first.text
        assert "66.7 %" in first.text  # success of those runs
        assert 'href="/jobs" aria-current="page"' in first.text  # in the navigation
        after = re.search(r'href="(/jobs\?after=[^"]+)" rel="next"', first.text)
        assert after and after.group(1) == "/jobs?after=job-049"
        second = await client.get(after.group(1))
        assert names_on(second.text) == names[50:100]
        third = await client.get("/jobs?after=job-099")
        assert names_on(third.text) == names[100:]
        assert 'rel="next"' not in third.text


async def test_filters_select_by_name_tag_kind_status_and_enabled(site: Api) -> None:
    await many(site, 30)
    await site.ctx.service.create_task(
        {
            "name": "tagged",
            "schedule": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "tags": ["nightly"],
            "http": {"url": "http://127.0.0.1:9/"},
        }
    )
    await add_run(site, "job-003", RunStatus.FAILED)
    await add_run(site, "job-004", RunStatus.SUCCEEDED)
    await site.ctx.service.set_enabled("job-005", False)
    async with browser(site) as client:
        by_name = await client.get("/jobs", params={"name": "JOB-01"})
        assert names_on(by_name.text) == [f"job-{i:03d}" for i in range(10, 20)]
        by_tag = await client.get("/jobs", params={"tag": "nightly"})
        assert names_on(by_tag.text) == ["tagged"]
        assert "weekdays at 09:00, Europe/Berlin" in by_tag.text
        failing = await client.get("/jobs", params={"status": "failing"})
        assert names_on(failing.text) == ["job-003"]
        disabled = await client.get("/jobs", params={"enabled": "no"})
        assert names_on(disabled.text) == ["job-005"]
        shell = await client.get("/jobs", params={"kind": "shell", "name": "", "status": ""})
        assert names_on(shell.text) == [] and "No job matches" in shell.text
        unknown = await client.get("/jobs", params={"colour": "red"})
        assert unknown.status_code == 422
        assert "colour" in unknown.text
        bad = await client.get("/jobs", params={"status": "sideways"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")


async def test_bulk_disable_acts_on_the_whole_selection_and_audits_each(site_any: Api) -> None:
    site = site_any
    names = await many(site, 120)
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        page = await client.get("/jobs", params={"name": "job-0"})
        assert len(names_on(page.text)) == 50  # one page of the 100 selected
        assert "Disable all 100 matching" in page.text
        assert 'data-confirm="Disable all 100 matching jobs' in page.text
        done = await client.post(
            "/jobs/bulk", data={"csrf": csrf, "action": "disable", "name": "job-0"}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/jobs?name=job-0&done=disable&changed=100"
        shown = await client.get(done.headers["location"])
        assert "disable: 100 job(s) changed" in shown.text
    tasks = {t.name: t.definition.enabled for t in await site.ctx.service.list_tasks()}
    assert [n for n in names if not tasks[n]] == names[:100]
    entries = await site.ctx.service.audit_log(AuditQuery(action="job.disable", limit=1000))
    assert sorted(e.target for e in entries) == names[:100]
    assert {e.actor for e in entries} == {"ada"}


async def test_bulk_trigger_over_the_api_queues_one_job_per_selected_task(site: Api) -> None:
    await many(site, 3)
    await define(site, "other")
    response = await site.client.post(
        "/api/jobs/bulk", json={"action": "trigger", "filter": {"name": "job-"}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] == ["job-000", "job-001", "job-002"]
    assert len(body["job_ids"]) == 3
    jobs = await site.ctx.service.list_jobs()
    assert sorted(j.task_name for j in jobs) == body["changed"]
    entries = await site.ctx.service.audit_log(AuditQuery(action="job.trigger"))
    assert sorted(e.target for e in entries) == body["changed"]
    wrong = await site.client.post("/api/jobs/bulk", json={"action": "explode"})
    assert wrong.status_code == 422


async def test_a_viewer_sees_no_controls_and_is_refused(site: Api) -> None:
    await define(site, "ping")
    await site.ctx.accounts.create_user("vera", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        assert (await log_in(client, "vera", PASSWORD)).status_code == 303
        listing = await client.get("/jobs")
        detail = await client.get("/jobs/ping")
        for page in (listing, detail):
            assert page.status_code == 200
            main = page.text.split("</header>", 1)[1]
            assert 'method="post"' not in main
            # Reading controls only: the list's filter, the job page's explain form (GET).
            assert re.findall(r"<button[^>]*>([^<]*)<", main) in ([], ["Filter"], ["Explain"])
            assert "/edit" not in page.text
        csrf = csrf_of(listing.text)
        for path, data in (
            ("/jobs/bulk", {"action": "disable"}),
            ("/jobs/ping/trigger", {}),
            ("/jobs/ping/disable", {}),
            ("/jobs/ping/delete", {}),
            ("/jobs/ping/pause", {"reason": "deploy"}),
            ("/jobs/ping/resume", {}),
            ("/jobs/ping/edit", {"schedule": "* * * * *"}),
        ):
            refused = await client.post(path, data={"csrf": csrf, **data})
            assert refused.status_code == 403, path
    assert (await site.ctx.service.get_task("ping")).definition.enabled
    assert await site.ctx.service.list_jobs() == []


async def test_a_jobs_page_shows_config_fires_runs_chart_and_missed_fires(site_any: Api) -> None:
    site = site_any
    await site.ctx.service.create_task(
        {
            "name": "report",
            "schedule": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "timeout": "5m",
            "max_retries": 2,
            "http": {"url": "http://127.0.0.1:9/r"},
        }
    )
    job_ids = [await add_run(site, "report", seconds=float(1 + i % 3)) for i in range(55)]
    async with browser(site) as client:
        page = await client.get("/jobs/report")
        assert page.status_code == 200, page.text
        text = page.text
        assert "every day at 02:30, Europe/Berlin" in text and "<code>30 2 * * *</code>" in text
        assert "GET http://127.0.0.1:9/r" in text and "5m" in text
        fires = text.split('id="fires-h"', 1)[1].split("</table>", 1)[0]
        assert fires.count("<tr>") == 11  # the header and 10 fires
        assert f'href="/queue/{job_ids[-1]}"' in text
        runs = re.findall(r'<a href="/runs/(\d+)">#', text)
        assert len(runs) == 50
        assert '<svg class="chart"' in text and 'class="p50"' in text and 'class="p95"' in text
        assert "No missed fires." in text
        older = re.search(r'href="(/jobs/report\?before=\d+)" rel="next"', text)
        assert older
        rest = await client.get(older.group(1))
        assert len(re.findall(r'<a href="/runs/(\d+)">#', rest.text)) == 5
        assert (await client.get("/jobs/nope")).status_code == 404


async def test_fire_notes_name_daylight_saving_changes() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from tickwork.domain.fire_notes import noted_fires
    from tickwork.domain.schedules import parse_schedule

    berlin = ZoneInfo("Europe/Berlin")
    fires = [datetime(2026, 3, d, 2, 30, tzinfo=berlin) for d in (28, 29)]
    fires[1] = datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    schedule = parse_schedule("30 * * * *", "Europe/Berlin")
    before = datetime(2026, 3, 27, tzinfo=UTC).astimezone(berlin).utcoffset()
    rows = noted_fires(schedule, [(f, f) for f in fires], before)
    assert rows[0].notes == ()
    assert rows[1].notes == ("clocks changed since the fire before: UTC+01:00 → UTC+02:00",)


async def test_editing_shows_the_use_cases_errors_next_to_the_fields(site: Api) -> None:
    await define(site, "ping")
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        form = await client.get("/jobs/ping/edit")
        assert form.status_code == 200
        assert 'value="*/5 * * * *"' in form.text
        assert '<label for="f-schedule">' in form.text
        sent = {
            "csrf": csrf,
            "schedule": "61 * * * *",
            "timezone": "UTC",
            "max_retries": "3",
            "overlap": "skip",
            "misfire": "skip",
            "priority": "0",
        }
        bad = await client.post("/jobs/ping/edit", data=sent)
        assert bad.status_code == 422
        error = re.search(r'<p class="field-error" id="schedule-error"[^>]*>([^<]+)</p>', bad.text)
        assert error and "minute value 61 out of range 0-59" in error.group(1)
        assert 'value="61 * * * *"' in bad.text  # re-filled as sent
        zone = await client.post(
            "/jobs/ping/edit", data={**sent, "schedule": "0 9 * * *", "timezone": "Mars/Olympus"}
        )
        assert zone.status_code == 422 and 'id="timezone-error"' in zone.text
        retries = await client.post("/jobs/ping/edit", data={**sent, "max_retries": "many"})
        assert retries.status_code == 422 and 'id="max_retries-error"' in retries.text
        # Every wrong field is named at once, not one per try.
        many = {**sent, "timezone": "Mars/Olympus", "timeout": "soon", "priority": "high"}
        everything = await client.post("/jobs/ping/edit", data=many)
        assert everything.status_code == 422
        named = re.findall(r'<p class="field-error" id="([a-z_]+)-error"', everything.text)
        assert sorted(set(named) - {"preview"}) == ["priority", "schedule", "timeout", "timezone"]
        ok = await client.post(
            "/jobs/ping/edit", data={**sent, "schedule": "0 9 * * 1-5", "timeout": "30s"}
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/jobs/ping"
    d = (await site.ctx.service.get_task("ping")).definition
    assert (d.schedule, d.timeout_seconds, d.retry.max_retries) == ("0 9 * * 1-5", 30.0, 3)
    (entry,) = await site.ctx.service.audit_log(AuditQuery(action="job.update"))
    assert entry.actor == "ada" and entry.target == "ping"


async def test_definitions_from_config_cannot_be_edited_or_deleted_here(site: Api) -> None:
    defn = TaskDefinition(
        name="from-toml", target=HttpTarget(url="http://127.0.0.1:9/"), source=TaskSource.CONFIG
    )
    await site.ctx.service.sync_definitions([defn], [TaskSource.CONFIG])
    await define(site, "made-here")
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        page = await client.get("/jobs/from-toml")
        assert "Defined in tickwork.toml" in page.text and "/from-toml/edit" not in page.text
        refused = await client.post("/jobs/from-toml/delete", data={"csrf": csrf})
        assert refused.status_code == 409
        assert "it can only be deleted there" in refused.text
        edit = await client.post("/jobs/from-toml/edit", data={"csrf": csrf, "schedule": "@daily"})
        assert edit.status_code == 409 and "tickwork.toml" in edit.text
        made = await client.get("/jobs/made-here")
        assert 'data-confirm="Delete made-here?' in made.text
        deleted = await client.post("/jobs/made-here/delete", data={"csrf": csrf})
        assert deleted.status_code == 303
    assert (await site.ctx.service.get_task("made-here")).removed


async def test_the_schedule_preview_answers_as_one_types(site: Api) -> None:
    async with browser(site) as client:
        ok = await client.get(
            "/schedule-preview",
            params={"expression": "0 9 * * 1-5", "timezone": "Europe/Berlin", "count": 3},
        )
        assert ok.status_code == 200
        body = ok.json()
        assert body["words"] == "weekdays at 09:00, Europe/Berlin"
        assert len(body["fires"]) == 3 and all("T09:00:00+0" in f for f in body["fires"])
        bad = await client.get("/schedule-preview", params={"expression": "0 9 * *"})
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == "schedule"
        api = await client.get(
            "/api/schedules/preview", params={"expression": "every 10m", "count": 2}
        )
        assert api.status_code == 200 and api.json()["words"] == "every 10 minutes"
        zone = await client.get(
            "/api/schedules/preview", params={"expression": "@daily", "timezone": "No/Where"}
        )
        assert zone.status_code == 422 and zone.json()["error"]["field"] == "timezone"
        script = await client.get("/static/preview.js")
        assert script.status_code == 200 and "preview-list" in script.text


async def test_pausing_with_a_reason_and_an_end_then_resuming(site: Api) -> None:
    await define(site, "ping")
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        bad = await client.post(
            "/jobs/ping/pause", data={"csrf": csrf, "reason": "deploy", "until": "soon"}
        )
        assert bad.status_code == 422
        assert "until" in bad.text and "30m" in bad.text
        empty = await client.post("/jobs/ping/pause", data={"csrf": csrf, "reason": " "})
        assert empty.status_code == 422
        done = await client.post(
            "/jobs/ping/pause", data={"csrf": csrf, "reason": "database upgrade", "until": "2h"}
        )
        assert done.status_code == 303
        page = (await client.get("/jobs/ping")).text
        assert "Paused by <strong>ada</strong>" in page and "database upgrade" in page
        assert "resumes by itself in 2h" in page
        overview = (await client.get("/")).text
        assert "<h3>Paused (1)</h3>" in overview
        listing = (await client.get("/jobs")).text
        assert 'title="database upgrade">paused</span>' in listing
        assert (await client.post("/jobs/ping/resume", data={"csrf": csrf})).status_code == 303
        assert "Paused by" not in (await client.get("/jobs/ping")).text
    actions = [e.action for e in await site.ctx.service.audit_log(AuditQuery(actor="ada"))]
    assert "job.pause" in actions and "job.resume" in actions
