"""Heartbeat checks, alerts and the weekly report in a real Chromium: an admin creates a check
on /checks, the outside job pings its address, the check shows up; the site's clock (the
injectable one) moves on until the check is down, an evaluator steps the rules, and the alert
is on /alerts and the overview; an operator acknowledges and mutes it while a read-only user
finds no such button; /report shows the check's uptime and the week's figures."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.api.conftest import Api
from tests.browser.conftest import add_user, log_in
from tickwork.config.alerts import AlertSettings, alerts_from_table
from tickwork.domain.access import Role
from tickwork.domain.alert_records import AlertKey
from tickwork.domain.alert_states import Status
from tickwork.runtime.evaluator import Evaluator

pytestmark = pytest.mark.asyncio(loop_scope="session")

RULES = {
    "rules": [{"name": "checks-down", "kind": "check_down", "channels": ["ops"]}],
    # Nothing listens there: delivery jobs would wait in the queue (no worker runs here).
    "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s" * 16}},
}
SUBJECT = "check:db-backup"


def with_rules(site: Api) -> AlertSettings:
    settings = alerts_from_table(RULES, {})
    site.ctx.service.ctx.alerts = settings  # the process's [alerts]
    return settings


async def ping(page: Page, site: Api, name: str, body: str = "") -> None:
    """What the outside cron job does: a POST to the check's ping address (no login)."""
    uuid = (await site.ctx.service.checks.get(name)).check.uuid
    response = await page.request.post(f"/ping/{uuid}", data=body)
    assert response.ok, await response.text()


async def goes_down(site: Api, settings: AlertSettings) -> None:
    """80 minutes on (period 1h, grace 10m: down), then one evaluation of the rules."""
    site.clock.advance(80 * 60)
    await Evaluator(site.store, settings, clock=site.clock).evaluate()
    state = (await site.store.alert_states())[AlertKey("checks-down", SUBJECT)]
    assert state.status is Status.FIRING


def check_row(page: Page, name: str) -> object:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


async def test_a_check_made_and_pinged_shows_up_and_going_down_fires(site: Api, page: Page) -> None:
    settings = with_rules(site)
    await add_user(site, "ada", Role.ADMIN)
    await log_in(page, "ada", path="/checks")
    await expect(page.get_by_text("No checks yet.")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("db-backup")
    await page.get_by_label("Period", exact=True).fill("1h")
    await page.get_by_label("Grace time", exact=True).fill("10m")
    await page.get_by_role("button", name="Create").click()
    await expect(page).to_have_url(re.compile(r"/checks/db-backup\?done=created$"))
    await expect(page.get_by_role("heading", name=re.compile(r"^Check db-backup"))).to_contain_text(
        "new"
    )

    await ping(page, site, "db-backup", "dumped\n3 GB")
    await page.goto("/checks")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="db-backup"))
    await expect(row.locator(".badge", has_text="up")).to_be_visible()
    await expect(row).to_contain_text("(success)")
    await row.get_by_role("link", name="db-backup").click()
    pings = page.locator("section", has=page.get_by_role("heading", name="Recent pings"))
    await expect(pings.get_by_role("row")).to_have_count(2)  # the header and the ping
    await expect(pings.get_by_role("row").nth(1)).to_contain_text("success")
    await pings.get_by_text("11 bytes").click()  # the body, opened
    await expect(pings.locator("pre")).to_have_text("dumped\n3 GB")

    await goes_down(site, settings)
    await page.goto("/checks/db-backup")
    await expect(page.get_by_role("heading", name=re.compile(r"^Check db-backup"))).to_contain_text(
        "down"
    )
    await page.goto("/alerts")
    await expect(page.locator("#firing-count")).to_have_text("1 firing.")
    subject = page.get_by_role("row").filter(has=page.get_by_role("link", name=SUBJECT))
    await expect(subject.locator(".badge", has_text="firing")).to_be_visible()
    await expect(subject).to_contain_text("no ping since")
    await subject.get_by_role("link", name=SUBJECT).click()
    await expect(page).to_have_url(re.compile(r"/checks/db-backup$"))
    await page.goto("/")
    await expect(page.get_by_text("Firing alerts (1)")).to_be_visible()
    await expect(page.get_by_role("link", name="checks-down")).to_be_visible()


async def test_an_operator_acknowledges_and_mutes_a_read_only_user_cannot(
    site: Api, page: Page
) -> None:
    settings = with_rules(site)
    await site.ctx.service.checks.create({"name": "db-backup", "period": "1h", "grace": "10m"})
    await ping(page, site, "db-backup")
    await goes_down(site, settings)
    await add_user(site, "olga", Role.OPERATOR)
    await add_user(site, "rita", Role.READ_ONLY)

    await log_in(page, "olga", path="/alerts")
    subject = page.get_by_role("row").filter(has=page.get_by_role("link", name=SUBJECT))
    await subject.get_by_role("button", name="Acknowledge").click()
    await expect(page).to_have_url(re.compile(r"/alerts\?done=ack$"))
    flash = page.locator(".flash")
    await expect(flash).to_have_count(1)  # said once (the page's frame says it)
    await expect(flash).to_contain_text("Acknowledged")
    await expect(subject).to_contain_text("acknowledged by olga")
    await expect(subject.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await subject.get_by_label("Mute for").select_option("4h")
    await subject.get_by_role("button", name="Mute").click()
    await expect(page).to_have_url(re.compile(r"/alerts\?done=mute$"))
    await expect(subject).to_contain_text("muted until")
    await expect(subject.get_by_role("button", name="Unmute")).to_be_visible()
    state = (await site.store.alert_states())[AlertKey("checks-down", SUBJECT)]
    assert state.acked_by == "olga" and state.muted_until is not None

    await page.get_by_role("button", name="Log out").click()
    await log_in(page, "rita", path="/alerts")
    await expect(subject.locator(".badge", has_text="firing")).to_be_visible()
    await expect(page.get_by_role("button")).to_have_text(["Log out"])  # no other button
    await expect(page.get_by_label("Mute for")).to_have_count(0)
    await page.goto("/checks")
    await expect(page.get_by_role("link", name="db-backup", exact=True)).to_be_visible()
    await expect(page.get_by_role("button")).to_have_text(["Log out"])


async def test_the_report_page_shows_the_checks_uptime(site: Api, page: Page) -> None:
    await site.ctx.service.checks.create({"name": "db-backup", "period": "1h", "grace": "10m"})
    await ping(page, site, "db-backup")
    # Up for its hour, late for its 10 minutes of grace, down for 10: 70 of 80 minutes alive.
    site.clock.advance(80 * 60)
    await add_user(site, "rita", Role.READ_ONLY)
    await log_in(page, "rita", path="/report")
    await expect(page.get_by_role("heading", name="Heartbeat checks")).to_be_visible()
    row = page.locator('tr[data-check="db-backup"]')
    await expect(row.locator('[data-col="status"]')).to_have_text("down")
    await expect(row.locator('[data-col="uptime"]')).to_have_text("87.5%")
    await expect(row.locator('[data-col="late"]')).to_have_text("10m")
    await expect(row.locator('[data-col="down"]')).to_have_text("10m")
    await expect(page.locator('[data-figure="runs"]')).to_have_text("0")
