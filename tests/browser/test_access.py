"""Roles and forged requests, from a real browser: a read-only user sees no control it cannot
use and the server refuses the action anyway; a POST without the session's CSRF token is
refused whoever sends it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.api.conftest import Api
from tests.browser.conftest import add_user, csrf_token, log_in
from tickwork.domain.access import Role
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def define(site: Api) -> None:
    task = TaskDefinition(name="report", target=PythonTarget("tests.runtime.jobs_for_tests:fail"))
    await site.ctx.service.sync_definitions([task], [TaskSource.CODE])


async def queued(site: Api) -> int:
    return sum((await site.ctx.service.queue_stats()).by_state.values())


async def test_a_read_only_user_finds_no_trigger_and_a_forged_post_is_refused(
    site: Api, page: Page
) -> None:
    await define(site)
    await add_user(site, "rita", Role.READ_ONLY)
    await log_in(page, "rita", path="/jobs/report")
    await expect(page.get_by_role("heading", name="report", level=1)).to_be_visible()
    # No button that changes anything: "Explain" only reads (a GET form).
    await expect(page.get_by_role("button")).to_have_text(["Log out", "Explain"])
    await page.goto("/jobs")
    await expect(page.get_by_role("link", name="report", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Trigger")).to_have_count(0)
    await expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)

    # The session's own valid CSRF token, from its own page: the role still does not allow it.
    token = await csrf_token(page)
    response = await page.request.post(
        "/jobs/report/trigger", form={"csrf": token}, headers={"Origin": site.url}
    )
    assert response.status == 403, await response.text()
    assert "jobs:trigger" in await response.text()
    assert await queued(site) == 0


async def test_a_post_without_the_csrf_token_is_refused(site: Api, page: Page) -> None:
    await define(site)
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/jobs/report")
    await expect(page.get_by_role("button", name="Trigger now")).to_be_visible()
    # The page's own trigger form, its token taken out, sent by the browser (which adds the
    # Origin header and the session cookie as for any form).
    form = page.locator('form[action="/jobs/report/trigger"]')
    await form.locator('input[name="csrf"]').evaluate("field => field.remove()")
    await page.get_by_role("button", name="Trigger now").click()
    await expect(page.get_by_role("heading", name="403")).to_be_visible()
    await expect(page.get_by_text("no valid CSRF token")).to_be_visible()
    # A wrong token is no better.
    response = await page.request.post(
        "/jobs/report/trigger", form={"csrf": "forged"}, headers={"Origin": site.url}
    )
    assert response.status == 403
    assert await queued(site) == 0
    # The same button with its token does act: the refusals above were the token's.
    await page.goto("/jobs/report")
    await page.get_by_role("button", name="Trigger now").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Job \d+: report$"))).to_be_visible()
    assert await queued(site) == 1
