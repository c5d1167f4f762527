"""The edit form's preview in a real Chromium: typing a schedule and a zone lists the next
fires with their daylight-saving notes, as the server answers them."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.api.conftest import Api
from tests.browser.conftest import add_user, log_in
from tickwork.domain.access import Role

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_preview_updates_as_one_types_with_notes(site: Api, page: Page) -> None:
    await site.ctx.service.create_task(
        {"name": "ping", "schedule": "*/5 * * * *", "http": {"url": "http://127.0.0.1:9/"}}
    )
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/jobs/ping/edit")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    # Sundays of March at 02:30: the last one is when the clocks skip 02:00-03:00, and it is
    # among the next five fires whenever one looks.
    await page.get_by_label("Schedule", exact=True).fill("30 2 * 3 0")
    await expect(page.locator("#preview-list")).to_contain_text("02:30 does not exist that day")
    await expect(page.locator("#preview-words")).not_to_be_empty()
    await page.get_by_label("Schedule", exact=True).fill("61 * * * *")
    await expect(page.locator("#preview-error")).to_contain_text("61")
