"""What a person does in the dashboard, in a real Chromium: log in and out, watch a scheduled
job fire while the page updates itself, trigger a job and see its run end, edit a schedule
and read the error next to the field."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.api.conftest import Api
from tests.browser.conftest import add_user, log_in, processor
from tickwork.domain.access import Role
from tickwork.domain.processors import ROLE_WORKER
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADD = PythonTarget("tests.runtime.jobs_for_tests:add")


async def define(site: Api, name: str, schedule: str | None = None) -> None:
    task = TaskDefinition(name=name, target=ADD, schedule=schedule, kwargs={"a": 1, "b": 2})
    await site.ctx.service.sync_definitions([task], [TaskSource.CODE])


async def test_log_in_and_out(site: Api, page: Page) -> None:
    await add_user(site, "ada", Role.ADMIN)
    await page.goto("/jobs")
    await expect(page).to_have_url(re.compile(r"/login\?next=/jobs$"))

    await page.get_by_label("User name").fill("ada")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")

    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/jobs$"))
    await expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    for path in ("/", "/jobs", "/queue"):
        await page.goto(path)
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await expect(page.get_by_role("button", name="Log in")).to_be_visible()


async def test_a_scheduled_fire_shows_up_without_a_reload(site: Api, page: Page) -> None:
    await define(site, "tick", "every 1s")
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/jobs")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="tick", exact=True))
    await expect(row).to_contain_text("never")
    # Each row's button says which job it triggers (to a screen reader: not ten "Trigger"s).
    await expect(row.get_by_role("button", name="Trigger tick", exact=True)).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("live")
    # A mark on this very document: a reload or a navigation would drop it.
    await page.evaluate("window.tickworkMark = 'same page'")

    async with processor(site):
        await expect(row.locator(".badge", has_text="succeeded")).to_be_visible()

    await expect(row).not_to_contain_text("never")
    assert await page.evaluate("window.tickworkMark") == "same page"


async def test_trigger_from_the_job_page_and_see_the_run_finish(site: Api, page: Page) -> None:
    await define(site, "once")
    await add_user(site, "ada", Role.OPERATOR)
    await log_in(page, "ada", path="/jobs/once")
    async with processor(site, ROLE_WORKER):
        await page.get_by_role("button", name="Trigger now").click()
        await expect(page).to_have_url(re.compile(r"/queue/\d+$"))
        state = page.locator("#job-live dt", has_text="State").locator("xpath=./following::dd[1]")
        await expect(state).to_have_text("succeeded")
        runs = page.locator("#job-runs")
        await expect(runs.get_by_role("row").nth(1)).to_contain_text("succeeded")
    job_id = int(page.url.rsplit("/", 1)[1])
    assert (await site.ctx.service.get_job(job_id)).requested_by == "ada"


async def test_an_invalid_schedule_is_shown_next_to_its_field(site: Api, page: Page) -> None:
    await site.ctx.service.create_task(
        {"name": "ping", "schedule": "*/5 * * * *", "http": {"url": "http://127.0.0.1:9/"}}
    )
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/jobs/ping/edit")
    schedule = page.get_by_label("Schedule", exact=True)
    await schedule.fill("61 * * * *")
    await page.get_by_role("button", name="Save").click()

    await expect(schedule).to_have_attribute("aria-invalid", "true")
    await expect(schedule).to_have_value("61 * * * *")
    error = page.locator("#schedule-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("61")
    # The message is the field's description, so a screen reader reads it with the field.
    assert await schedule.get_attribute("aria-describedby") == "schedule-error"
    assert (await site.ctx.service.get_task("ping")).definition.schedule == "*/5 * * * *"
