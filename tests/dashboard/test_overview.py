"""The overview page: health, queue, the last hour, runs per minute, what needs attention."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, add_run, define
from tests.dashboard.conftest import browser
from tickwork.domain.jobs import RunStatus


async def test_the_overview_shows_the_last_hour_and_what_needs_attention(site_any: Api) -> None:
    site = site_any
    await define(site, "ping", "sync")
    now = site.clock.now()
    for minutes_ago in (50, 20, 20, 1):
        await add_run(site, "ping", at=now - timedelta(minutes=minutes_ago))
    await add_run(site, "sync", RunStatus.FAILED, at=now - timedelta(minutes=5))
    await site.ctx.service.set_enabled("ping", False)
    async with browser(site) as client:
        page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'id="hour-runs">5 <small>runs' in html
    assert "failure rate <strong>20.0 %</strong>" in html
    assert "5 runs in the last 60 minutes, at most 2 in one minute" in html
    attention = html[html.index("Needs attention") :]
    assert 'href="/jobs/sync">sync</a>' in attention.split("<h3>Disabled")[0]
    assert 'href="/jobs/ping">ping</a>' in attention.split("<h3>Disabled")[1]


async def test_runs_per_minute_count_each_minute(site: Api) -> None:
    await define(site, "ping")
    now = site.clock.now()
    for minutes_ago in (30, 30, 30, 2):
        await add_run(site, "ping", at=now - timedelta(minutes=minutes_ago))
    points = await site.ctx.service.runs_per_minute(60)
    assert sorted(p.runs for p in points) == [1, 3]
    assert all(p.start.second == 0 for p in points)
