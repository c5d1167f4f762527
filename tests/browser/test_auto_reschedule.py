"""In a real Chromium: the job page says what auto-rescheduling changed, and its Undo button
(after the confirmation) gives the job its defined schedule back."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.api.conftest import Api, add_run
from tests.browser.conftest import add_user, log_in
from tests.browser.test_flows import define
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.jobs import RunStatus
from tickwork.runtime.autoscheduler import AutoScheduler

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_undo_an_auto_disable_from_the_job_page(site: Api, page: Page) -> None:
    await define(site, "etl", "*/5 * * * *")
    for _ in range(3):
        await add_run(site, "etl", RunStatus.FAILED)
    auto = AutoScheduler(site.store, AutoSettings(enabled=True), clock=site.clock)
    assert len((await auto.run_once()).changes) == 1
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/jobs/etl")
    section = page.locator("#auto")
    await expect(section.get_by_role("heading", name="Auto-rescheduled")).to_be_visible()
    await expect(section).to_contain_text("auto-disabled (circuit breaker open)")
    questions: list[str] = []

    async def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await section.get_by_role("button", name="Undo").click()
    await expect(page.locator("#auto")).to_have_count(0)
    assert questions == ["Give etl its defined schedule back?"]
    [entry] = await site.ctx.service.audit_log(AuditQuery(action="job.undo_reschedule"))
    assert entry.actor == "ada"
