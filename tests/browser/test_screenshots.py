"""The README's pictures: the script that draws them works (into a temporary directory, so a
test run never rewrites the committed files), and every picture the README shows exists."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from playwright.async_api import Browser
from scripts.screenshots import VIEWPORT, shoot

from tests.browser.conftest import repo_root


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (and a check that it is one)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.asyncio(loop_scope="session")
async def test_the_screenshot_script_draws_the_pages(chromium: Browser, tmp_path: Path) -> None:
    written = await shoot(chromium, tmp_path, ["overview", "history"])
    assert [p.name for p in written] == ["overview.png", "history.png"]
    for path in written:
        assert png_size(path) == (VIEWPORT["width"], VIEWPORT["height"])
        assert path.stat().st_size > 10_000  # a drawn page, not a blank one


def test_the_readme_shows_committed_screenshots() -> None:
    root = repo_root()
    shown = re.findall(r"\((docs/screenshots/[\w.-]+\.png)\)", (root / "README.md").read_text())
    assert shown, "the README shows no screenshot"
    for name in shown:
        assert (root / name).is_file(), f"the README shows {name}, which is missing"
        assert png_size(root / name) == (VIEWPORT["width"], VIEWPORT["height"])
