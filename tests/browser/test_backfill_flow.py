"""A backfill in a real Chromium: preview a past range on a job's page, start it, cancel one as
a whole (with its confirmation), and watch another run one fire at a time under a real
scheduler and worker while the page updates itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.api.conftest import Api
from tests.browser.conftest import add_user, log_in, processor
from tickwork.domain.access import Role
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource

pytestmark = pytest.mark.asyncio(loop_scope="session")


def minute(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def fill_range(page: Page, start: datetime, end: datetime) -> None:
    await page.get_by_label("From (UTC)").fill(minute(start))
    await page.get_by_label("To (UTC)").fill(minute(end))


async def test_preview_start_cancel_and_run_a_backfill(site: Api, page: Page) -> None:
    task = TaskDefinition(
        name="tick",
        target=PythonTarget("tests.runtime.jobs_for_tests:add"),
        schedule="every 1m",
        kwargs={"a": 1, "b": 2},
    )
    await site.ctx.service.sync_definitions([task], [TaskSource.CODE])
    await add_user(site, "ada", Role.OPERATOR)
    await log_in(page, "ada", path="/jobs/tick")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)

    # Preview three fires, then start them from the preview.
    await fill_range(page, base, base + timedelta(minutes=2))
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#backfill-summary")).to_have_text(
        "3 fire(s) in the range; it would create 3 job(s), already present 0."
    )
    await page.get_by_role("button", name="Start backfill").click()
    await expect(page).to_have_url(re.compile(r"/jobs/tick#backfills$"))
    backfills = page.locator("#backfills")
    await expect(backfills.get_by_role("row").nth(1)).to_contain_text("0 / 3")

    # Cancel it as a whole, after the confirmation.
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    (first,) = await site.ctx.service.list_backfills("tick")
    await backfills.get_by_role("button", name=f"Cancel backfill {first.id}").click()
    await expect(backfills.get_by_role("row").nth(1)).to_contain_text("cancelled")
    assert (await site.ctx.service.get_backfill(first.id)).counts.cancelled == 3

    # Another range, run one at a time by a real scheduler and worker: the row follows live.
    await fill_range(page, base + timedelta(minutes=10), base + timedelta(minutes=12))
    await page.get_by_role("button", name="Start backfill").click()
    row = backfills.get_by_role("row").nth(1)
    await expect(row).to_contain_text("0 / 3")
    async with processor(site):
        await expect(row).to_contain_text("3 / 3")
        await expect(row.locator(".badge")).to_have_text("done")
    second = (await site.ctx.service.list_backfills("tick"))[0]
    assert second.counts.succeeded == 3
