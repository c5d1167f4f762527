"""The report page (``/report``) over HTTP: the report's template drawn in the frame with
classes (the page's CSP allows no inline style), for a read-only user; the e-mail's HTML as a
download; the navigation link; bad input."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.dashboard.conftest import browser, log_in
from tests.service.report_data import ReportPage, alert_settings, seed
from tickwork.domain.access import LOCAL, Role

PASSWORD = "correct horse battery"


async def test_a_viewer_reads_the_report(site_any: Api) -> None:
    site = site_any
    site.ctx.service.ctx.alerts = alert_settings()
    await seed(site.store, site.clock.now())
    await site.ctx.accounts.create_user("vic", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        assert (await log_in(client, "vic", PASSWORD)).status_code == 303
        page = await client.get("/report")
        assert page.status_code == 200, page.text
        html = page.text
        assert "<h1>Weekly report</h1>" in html and 'href="/report" aria-current="page"' in html
        assert 'href="/report?since=7d" aria-current="page"' in html
        drawn = ReportPage(html)
        assert drawn.figures["runs"] == "21" and drawn.figures["missed"] == "2"
        assert drawn.rows["job"]["hourly"]["success"] == "83.3%"
        assert set(drawn.rows["paused"]) == {"nightly"}
        assert ' style="' not in html  # classes only: the dashboard's CSP forbids inline styles
        assert 'href="/jobs/hourly"' in html

        day = ReportPage((await client.get("/report", params={"since": "24h"})).text)
        assert int(day.figures["runs"]) < 21

        mail = await client.get("/report.html", params={"since": "7d"})
        assert mail.status_code == 200
        assert mail.headers["content-disposition"].startswith("attachment")
        assert ReportPage(mail.text).styled > 50

        bad = await client.get("/report", params={"since": "3y"})
        assert bad.status_code == 422


async def test_the_page_needs_a_session(site: Api) -> None:
    await site.ctx.accounts.create_user("vic", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        page = await client.get("/report", follow_redirects=False)
    assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]
