"""Every ``tickwork`` command line in the tutorial, the how-to guides and the examples' README
names a command that exists, with options it takes (parsed, not run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.packaging.test_deploy_files import assert_tickwork_command

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        REPO / "docs" / "tutorial.md",
        *(REPO / "docs" / "how-to").glob("*.md"),
        *(REPO / "examples").glob("*/README.md"),
    ]
)
FENCE = re.compile(r"^```(?:sh|console)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _command_lines(page: Path) -> list[str]:
    lines = []
    for block in FENCE.findall(page.read_text()):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("tickwork "):
                lines.append(line)
    return lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_documented_commands_exist(page: Path) -> None:
    for line in _command_lines(page):
        args = shlex.split(line, comments=True)[1:]
        args = [a for a in args if a not in {"<", ">"}]
        try:
            assert_tickwork_command(args)
        except Exception as exc:  # the parser's errors, with the line that caused them
            raise AssertionError(f"{page.name}: {line}: {exc}") from exc


def test_the_pages_have_commands() -> None:
    assert sum(len(_command_lines(page)) for page in PAGES) > 20
