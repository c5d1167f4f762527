"""What the commands print (issue 9, item 13): help texts keep their square brackets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from tests.integration.support import cli
from tickwork.cli.main import app

# --- help --------------------------------------------------------------------------------------
BRACKETED = re.compile(r"\[[^\[\]]+\]")


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


def source_texts(command: Any) -> list[str]:
    texts = [command.help or ""]
    texts += [getattr(p, "help", None) or "" for p in command.params]
    return texts


def test_help_keeps_every_text_in_square_brackets(tmp_path: Path) -> None:
    checked = 0
    for path, command in commands(typer.main.get_command(app)):
        needles = [n for text in source_texts(command) for n in BRACKETED.findall(text)]
        if not needles:
            continue
        done = cli([*path, "--help"], tmp_path, {"COLUMNS": "100"})
        assert done.returncode == 0, done.stderr
        shown = " ".join(done.stdout.split())
        for needle in needles:
            assert " ".join(needle.split()) in shown, (path, needle)
            checked += 1
    assert checked >= 2  # `run --help` and `api --help` speak of [api] host and port
