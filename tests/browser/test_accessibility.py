"""Every main page of the dashboard, over the demo deployment, checked by axe-core in Chromium:
no serious or critical violation (WCAG 2 A/AA and axe's best practices) in the light colour
scheme, and no colour-contrast one in the dark scheme."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.async_api import Browser, Page, expect
from scripts.dashboard_demo import PASSWORD, Demo, populate

from tests.api.conftest import Api
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT, log_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

BLOCKING = ("serious", "critical")
EVERY_RULE: dict[str, Any] = {"resultTypes": ["violations"]}
# The dark scheme changes colours only. Checked on the pages that between them show every
# kind of element (badges, buttons, links, tables, charts, forms, errors): colour contrast
# is the slowest rule, most of a second on a long page.
CONTRAST_ONLY: dict[str, Any] = {"resultTypes": ["violations"], "runOnly": ["color-contrast"]}
DARK_PAGES = (
    "login",
    "overview",
    "jobs",
    "job detail",
    "run detail",
    "queue",
    "failures",
    "alerts",
    "checks",
    "report",
)


def main_pages(demo: Demo) -> dict[str, str]:
    return {
        "overview": "/",
        "jobs": "/jobs",
        "job detail": "/jobs/import-orders",
        "job edit": "/jobs/import-orders/edit",
        "run detail": f"/runs/{demo.failed_run_id}",
        "queue": "/queue",
        "queue job": f"/queue/{demo.pending_job_id}",
        "failures": "/failures",
        "processors": "/processors",
        "audit log": "/audit",
        "users": "/users",
        "account": "/account",
        "alerts": "/alerts",
        "checks": "/checks",
        "check detail": "/checks/invoice-export",
        "report": "/report",
        "load": "/load",
    }


async def violations(page: Page, options: dict[str, Any]) -> list[str]:
    """The serious and critical violations axe finds on the page as it is now, one line each
    (axe-core as the axe-playwright-python package ships it, put into the page once)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE_SCRIPT)
    found = await page.evaluate("options => axe.run(document, options)", options)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in found["violations"]
        if v["impact"] in BLOCKING
    ]


async def check(page: Page, name: str, problems: dict[str, list[str]]) -> None:
    await page.emulate_media(color_scheme="light")
    problems[name] = await violations(page, EVERY_RULE)
    if name in DARK_PAGES:
        await page.emulate_media(color_scheme="dark")
        problems[f"{name} (dark)"] = await violations(page, CONTRAST_ONLY)


# Twenty pages, each checked in full by axe (and ten again for contrast): about two minutes on a
# shared two-core machine, so more than the suite's 120 s limit per test, which is there to
# catch hangs.
@pytest.mark.timeout(360)
async def test_no_page_has_a_serious_accessibility_violation(site: Api, chromium: Browser) -> None:
    demo = await populate(site.ctx, site.store, site.clock.now())
    # axe is put into each page by script, which the pages' Content-Security-Policy
    # (default-src 'self') would refuse: this context alone bypasses CSP. The pages' own
    # scripts run as usual.
    context = await chromium.new_context(base_url=site.url, viewport=VIEWPORT, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    problems: dict[str, list[str]] = {}
    try:
        page = await context.new_page()
        await page.goto("/login")
        await check(page, "login", problems)
        await log_in(page, demo.admin, PASSWORD)
        for name, path in main_pages(demo).items():
            response = await page.goto(path)
            assert response is not None and response.ok, f"{name}: {path} answered {response}"
            await expect(page.locator("#live-state")).to_have_text("live")
            await check(page, name, problems)
    finally:
        await context.close()
    assert set(DARK_PAGES) <= set(problems)
    failing = [f"{name}: {line}" for name, found in problems.items() for line in found]
    assert not failing, "\n".join(failing)
