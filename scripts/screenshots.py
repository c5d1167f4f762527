"""Screenshots of the dashboard's main pages over the demo deployment (scripts/dashboard_demo.py),
taken by a real headless Chromium, for the README.

    .venv/bin/python scripts/screenshots.py                    # rewrites docs/screenshots/*.png
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --pages overview run
    .venv/bin/python scripts/screenshots.py --dark             # the dark colour scheme

The dashboard and API are served by uvicorn on 127.0.0.1 over a fresh SQLite file in a temporary
directory, the demo is written into it as of now, and each page is taken at 1280×800 after
logging in as the demo's admin, once its live stream is connected. Needs Debian's ``chromium``
(``TICKWORK_CHROMIUM`` for another path); Playwright drives it and downloads nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the demo's modules and its task functions
    sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, async_playwright, expect  # noqa: E402

from scripts.dashboard_demo import PASSWORD, Demo, populate  # noqa: E402
from tickwork.api.deps import ApiContext  # noqa: E402
from tickwork.api.server import ApiServer  # noqa: E402
from tickwork.clock import SystemClock  # noqa: E402
from tickwork.config.api import ApiSettings  # noqa: E402
from tickwork.dashboard.app import create_app  # noqa: E402
from tickwork.service.context import Context  # noqa: E402
from tickwork.store import create_store  # noqa: E402
from tickwork.store import migrate as migrations  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000


def page_paths(demo: Demo) -> dict[str, str]:
    """Each picture's name and the page it shows."""
    return {
        "overview": "/",
        "jobs": "/jobs",
        "job": "/jobs/import-orders",
        "history": "/jobs/import-orders#perf-h",  # its durations and runs, further down
        "run": f"/runs/{demo.failed_run_id}",
        "failures": "/failures",
        "queue": "/queue?state=pending",
        "alerts": "/alerts",
        "checks": "/checks",
        "check": "/checks/invoice-export",
        "report": "/report",
        "load": "/load",
        "dependencies": "/dependencies",
    }


PAGES = (
    "overview",
    "jobs",
    "job",
    "history",
    "run",
    "failures",
    "queue",
    "alerts",
    "checks",
    "check",
    "report",
    "load",
    "dependencies",
)


async def shoot(
    browser: Browser, out: Path, pages: Sequence[str] = PAGES, *, dark: bool = False
) -> list[Path]:
    """Serve the demo and write a PNG of each of ``pages`` into ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'demo.db'}"
        engine = create_store(url).engine
        migrations.upgrade(engine)
        engine.dispose()
        store = create_store(url)
        await store.open()
        core = Context(store, clock=SystemClock())
        ctx = ApiContext.build(core, ApiSettings(host="127.0.0.1", port=0, rate_limit=None))
        server = ApiServer(create_app(ctx), "127.0.0.1", 0)
        await server.start()
        try:
            demo = await populate(ctx, store, core.clock.now())
            return await _take(browser, server.url, demo, out, pages, dark)
        finally:
            if ctx.events is not None:
                await ctx.events.close()
            await server.stop()
            await store.close()


async def _take(
    browser: Browser, base: str, demo: Demo, out: Path, pages: Sequence[str], dark: bool
) -> list[Path]:
    paths = page_paths(demo)
    unknown = sorted(set(pages) - set(paths))
    if unknown:
        raise SystemExit(f"no such page {unknown}; pages are {sorted(paths)}")
    context = await browser.new_context(
        base_url=base,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        color_scheme="dark" if dark else "light",
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto("/login")
        await page.get_by_label("User name").fill(demo.admin)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("link", name=demo.admin)).to_be_visible()
        written = []
        for name in pages:
            await page.goto(paths[name])
            await expect(page.locator("#live-state")).to_have_text("live", timeout=TIMEOUT_MS)
            target = out / f"{name}{'-dark' if dark else ''}.png"
            await page.screenshot(path=target)
            written.append(target)
        return written
    finally:
        await context.close()


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument("--pages", nargs="+", default=list(PAGES), choices=PAGES)
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args(argv)
    chromium = os.environ.get("TICKWORK_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        raise SystemExit(f"no Chromium at {chromium}: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            for path in await shoot(browser, args.out, args.pages, dark=args.dark):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
