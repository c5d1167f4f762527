"""The "why did it (not) run?" panel of a job's page and the load page, over HTTP."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, add_run, define
from tests.dashboard.conftest import browser
from tests.dashboard.test_jobs import admin_client
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.jobs import RunStatus


async def test_the_job_page_explains_fires_around_a_time(site_any: Api) -> None:
    site = site_any
    await define(site, "ping")  # every 5 minutes
    now = site.clock.now()
    fire = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 5)
    await site.store.add_missed_fires(
        [NewMissedFire("ping", fire, MissedReason.OVERLAP, "job 7 still running")], now
    )
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        await client.post("/jobs/ping/disable", data={"csrf": csrf})
        page = await client.get("/jobs/ping", params={"window": "10m"})
        assert page.status_code == 200, page.text
        assert '<h2 id="explain-h">Why did it (not) run?</h2>' in page.text
        assert "missed (overlap): an earlier job of the task was still active" in page.text
        assert "job 7 still running" in page.text
        assert "disabled from" in page.text and "by ada" in page.text
        assert "will not fire while the job is disabled" in page.text
        bad = await client.get("/jobs/ping", params={"explain_at": "yesterday"})
        assert bad.status_code == 200
        assert 'role="alert">explain_at: expected a duration back from now' in bad.text


async def test_the_load_page(site: Api) -> None:
    await define(site, "ping", "pong")
    await add_run(site, "ping", RunStatus.SUCCEEDED, seconds=400)
    async with browser(site) as client:
        await admin_client(site, client)
        page = await client.get("/load", params={"days": 1})
        assert page.status_code == 200, page.text
        assert "<h1>Load of the coming days</h1>" in page.text
        assert "2 enabled schedules" in page.text and "576 starts" in page.text
        assert 'href="/load" aria-current="page"' in page.text
        assert '<a href="/jobs/ping">ping</a>' in page.text  # p95 over its interval
        assert "Proposed offset" in page.text
        assert (await client.get("/load", params={"days": 40})).status_code == 422


def test_the_days_of_the_load_page_are_utc_days_cut_by_the_window() -> None:
    from datetime import UTC, datetime

    from tickwork.dashboard.pages.load import day_lines
    from tickwork.domain.load import LoadProfile

    # A two-day window from 23:01: 59 minutes of the first day, a whole day, the rest.
    late = LoadProfile(datetime(2026, 12, 7, 23, 1, tzinfo=UTC), [1] * 2880, [2] * 2880)
    lines = [(f"{x.day:%d %H:%M}", x.starts, x.part) for x in day_lines(late)]
    assert lines == [
        ("07 23:01", 59, "from 23:01"),
        ("08 00:00", 1440, ""),
        ("09 00:00", 1381, "until 23:01"),
    ]
    midnight = LoadProfile(datetime(2026, 12, 7, tzinfo=UTC), [1] * 2880, [2] * 2880)
    assert [(x.starts, x.part) for x in day_lines(midnight)] == [(1440, ""), (1440, "")]
