"""Bad input to the CLI: one line naming the problem, exit status 2, nothing written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.integration.support import cli

GOOD = """
[[jobs]]
name = "fine"
command = "true"
schedule = "* * * * *"
"""

CASES = {
    "malformed-toml": ("[[jobs]\nname = 'x'", ["invalid TOML", "line 3"]),
    "bad-cron": (
        GOOD + '[[jobs]]\nname = "c"\ncommand = "true"\nschedule = "61 * * * *"\n',
        ["'c'", "schedule", "61"],
    ),
    "bad-timezone": (
        GOOD + '[[jobs]]\nname = "t"\ncommand = "true"\nschedule = "@daily"\n'
        'timezone = "Mars/Olympus"\n',
        ["'t'", "timezone", "Mars/Olympus"],
    ),
    "unset-var": (
        GOOD + '[[jobs]]\nname = "v"\ncommand = "true"\nschedule = "${NO_SUCH_VAR_TW}"\n',
        ["'v'", "NO_SUCH_VAR_TW"],
    ),
    "unimportable": (
        GOOD + '[[jobs]]\nname = "i"\ntask = "no_such_module_tw:run"\n',
        ["'i'", "no_such_module_tw"],
    ),
    "duplicate": (GOOD + GOOD, ["'fine'", "duplicate job name"]),
    "unknown-setting": (
        GOOD + "[tickwork]\nmax_concurent_jobs = 3\n",
        ["max_concurent_jobs", "max_concurrent_jobs"],
    ),
    "unknown-job-key": (
        GOOD + '[[jobs]]\nname = "k"\ncommand = "true"\nretries = 3\n',
        ["'k'", "retries"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: str) -> None:
    text, needles = CASES[case]
    db = tmp_path / "tw.db"
    config = tmp_path / "tickwork.toml"
    config.write_text(
        f'[tickwork]\ndatabase_url = "sqlite:///{db}"\n' + textwrap.dedent(text)
        if case != "unknown-setting"
        else textwrap.dedent(text).replace(
            "[tickwork]", f'[tickwork]\ndatabase_url = "sqlite:///{db}"'
        )
    )
    done = cli(["run", "--config", str(config)], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["next", "* * *"], "expected 5 fields"),
        (["next", "@daily", "--tz", "Nowhere/City"], "unknown timezone"),
        (["next", "@daily", "--after", "yesterday"], "invalid ISO 8601"),
        (["enqueue", "x", "--args", "{oops"], "invalid JSON"),
        (["enqueue", "x", "--args", '{"a": 1}'], "must be a JSON array"),
        (["enqueue", "x", "--delay", "soon"], "invalid duration"),
        (["enqueue", "x", "--at", "2026-01-01T00:00:00"], "UTC offset"),
        (["enqueue", "missing-task"], "no job named 'missing-task'"),
        (["jobs", "show", "missing-task"], "no job named"),
        (["jobs", "cancel", "12345"], "no job with ID 12345"),
        (["run", "--database-url", "mysql://x/y"], "unsupported database"),
    ],
)
def test_bad_arguments(tmp_path: Path, sqlite_url: str, args: list[str], needle: str) -> None:
    done = cli(
        [*args, "--database-url", sqlite_url] if args[0] not in ("next", "run") else args, tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_next_prints_iso_times_with_offset(tmp_path: Path) -> None:
    done = cli(
        [
            "next",
            "30 2 * * *",
            "--tz",
            "America/New_York",
            "--after",
            "2026-03-07T12:00:00Z",
            "-n",
            "3",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # 02:30 does not exist on 8 March (spring forward): it fires once, right after the jump.
    # Each line: the time, then notes in parentheses (a clock change).
    assert [line.split()[0] for line in done.stdout.splitlines()] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]
