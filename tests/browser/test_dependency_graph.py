"""The dependency graph in Chromium: a chain triggered by hand runs downstream through a real
processor, the job page and ``/dependencies`` show it (boxes linking to the jobs, nothing
loaded from elsewhere), and axe-core finds no serious violation on the graph page."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.async_api import Browser, Page, Request, expect

from tests.api.conftest import Api
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, VIEWPORT, add_user, log_in, processor
from tickwork.domain.access import Role

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = {"http": {"url": "http://127.0.0.1:9/health"}}


async def axe_violations(page: Page) -> list[str]:
    await page.evaluate(AXE_SCRIPT)
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    found = await page.evaluate("options => axe.run(document, options)", options)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in found["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_the_graph_links_the_jobs_and_a_chain_runs(site: Api, chromium: Browser) -> None:
    svc = site.ctx.service
    await svc.create_task({"name": "extract", **URL})
    await svc.create_task({"name": "load", **URL, "after": [{"job": "extract", "on": "finished"}]})
    await svc.create_task({"name": "alarm", **URL, "after": [{"job": "extract", "on": "failed"}]})
    await add_user(site, "ada", Role.ADMIN)
    context = await chromium.new_context(base_url=site.url, viewport=VIEWPORT, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    elsewhere: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(site.url):
            elsewhere.append(request.url)

    try:
        page = await context.new_page()
        page.on("request", watch)
        await log_in(page, "ada", PASSWORD)
        async with processor(site) as running:
            assert running.releaser is not None
            await running.releaser.run_once(force=True)
            await page.goto("/jobs/extract")
            await page.get_by_role("button", name="Trigger now").click()
            # extract fails (nothing listens on port 9): load (finished) and alarm (failed) run.
            await page.goto("/jobs/load")
            runs = page.get_by_role("region", name="Runs")
            await expect(runs.get_by_text("dependency")).to_be_visible(timeout=30_000)
        section = page.get_by_role("region", name="Dependencies")
        await expect(section.get_by_role("link", name="extract")).to_be_visible()
        await expect(section.get_by_text("(after finished)")).to_be_visible()

        await page.get_by_role("link", name="Dependencies", exact=True).first.click()
        await expect(page.get_by_role("heading", name="Dependencies")).to_be_visible()
        graph = page.get_by_role("group", name="Dependencies of 3 jobs: 2 links")
        await expect(graph).to_be_visible()
        assert await graph.locator("a").count() == 3
        assert await graph.locator("path.dep.failed").count() == 1
        assert not await axe_violations(page)
        await graph.locator('a[href="/jobs/alarm"]').click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("alarm")
        assert elsewhere == []
    finally:
        await context.close()
