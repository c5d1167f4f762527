"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One browser per test process (starting Chromium takes a second or more on a busy machine), a
new browser context per test (its own cookies), the dashboard and API served for real by
uvicorn on 127.0.0.1 over a fresh SQLite file. Playwright's objects belong to the event loop
that started them, so these tests and their async fixtures all run in the session's loop
(``pytestmark`` of each module, ``loop_scope="session"`` here).

Without Chromium the tests skip, naming what is missing; with ``TICKWORK_REQUIRE_BROWSER=1``
(CI) they fail instead, so a missing browser can never pass as green.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.api.conftest import Api, running_api
from tickwork.dashboard.app import create_app
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.processors import ROLE_SCHEDULER, ROLE_WORKER
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.store import create_store

CHROMIUM_ENV = "TICKWORK_CHROMIUM"
REQUIRE_ENV = "TICKWORK_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
# Generous: on a loaded 2-core machine a page, a fire or a live refresh can take seconds.
# Playwright waits for a condition up to this long and goes on as soon as it holds.
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 800}

expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str:
    """The Chromium to drive; ``pytest.skip`` (or ``pytest.fail`` where it is required) when
    there is none."""
    path = os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)
    if not os.access(path, os.X_OK):
        reason = (
            f"browser tests need Chromium at {path} (apt-get install chromium, or set"
            f" {CHROMIUM_ENV})"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for every test of this process (never a downloaded build)."""
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def site(sqlite_url: str) -> AsyncIterator[Api]:
    """The dashboard and API over a fresh SQLite file; the event feed polls often, so live
    updates follow the store within a fraction of a second."""
    async with running_api(sqlite_url, factory=create_app) as running:
        assert running.ctx.events is not None
        running.ctx.events.poll_seconds = 0.1
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def context(chromium: Browser, site: Api) -> AsyncIterator[BrowserContext]:
    """A browser context of its own (cookies, storage) on the site; closed before the site
    stops, so no page holds the live stream open then."""
    ctx = await chromium.new_context(base_url=site.url, viewport=VIEWPORT)
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def add_user(site: Api, name: str, role: Role) -> None:
    await site.ctx.accounts.create_user(name, role, PASSWORD, actor=LOCAL)


async def log_in(page: Page, name: str, password: str = PASSWORD, path: str = "/") -> None:
    """Fill in the login form as a person would and wait for the page it leads to."""
    await page.goto(f"/login?next={path}")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("link", name=name)).to_be_visible()


async def csrf_token(page: Page) -> str:
    """The CSRF token the page's forms carry (its ``csrf-token`` meta element)."""
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token, "no CSRF token on the page"
    return token


@contextlib.asynccontextmanager
async def processor(site: Api, *roles: str) -> AsyncIterator[Processor]:
    """A real processor (scheduler and/or worker, system clock) over a store of its own on the
    site's database, as another process would be."""
    store = create_store(site.store.engine.url.render_as_string(hide_password=False))
    await store.open()
    settings = ProcessorSettings(
        roles=frozenset(roles or (ROLE_SCHEDULER, ROLE_WORKER)),
        poll_interval_seconds=0.05,
    )
    running = Processor(store, settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        await store.close()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
