"""`tickwork next --job`: the fires of a defined job, with its calendar applied."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.support import cli
from tickwork.domain.limits import Policies
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

AFTER = "2026-03-05T12:00:00+01:00"  # a Thursday, Berlin time


async def define(url: str) -> None:
    store = create_store(url)
    await store.open()
    try:
        await Service(Context(store, resolve=None)).sync_definitions(
            [
                TaskDefinition(
                    name="report",
                    target=ShellTarget("true"),
                    schedule="0 10 * * *",
                    timezone="Europe/Berlin",
                    source=TaskSource.CONFIG,
                    policies=Policies(calendar={"timezone": "Europe/Berlin", "holidays": "DE"}),
                ),
                TaskDefinition(name="adhoc", target=ShellTarget("true"), source=TaskSource.CONFIG),
            ],
            [TaskSource.CONFIG],
        )
    finally:
        await store.close()


async def test_next_job_shows_fires_moved_by_the_calendar(sqlite_url: str, tmp_path: Path) -> None:
    await define(sqlite_url)
    args = ["next", "--job", "report", "--after", AFTER, "-n", "4", "--database-url", sqlite_url]
    done = cli(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "2026-03-06T10:00:00+01:00",
        "2026-03-07T10:00:00+01:00 -> moved to 2026-03-09T09:00:00+01:00 (calendar)",
        "2026-03-08T10:00:00+01:00 -> moved to 2026-03-09T09:00:00+01:00 (calendar)",
        "2026-03-09T10:00:00+01:00",
    ]
    done = cli([*args, "-n", "2", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "fire_at": "2026-03-06T10:00:00+01:00",
            "runs_at": "2026-03-06T10:00:00+01:00",
            "notes": [],
        },
        {
            "fire_at": "2026-03-07T10:00:00+01:00",
            "runs_at": "2026-03-09T09:00:00+01:00",
            "notes": ["outside its calendar: moved to the next opening, 2026-03-09 09:00 CET"],
        },
    ]


async def test_next_job_errors_are_one_line_exit_2(sqlite_url: str, tmp_path: Path) -> None:
    await define(sqlite_url)
    db = ["--database-url", sqlite_url]
    cases = {
        "both": (["next", "@daily", "--job", "report", *db], "one of them"),
        "neither": (["next", *db], "one of them"),
        "tz-with-job": (["next", "--job", "report", "--tz", "UTC", *db], "--tz"),
        "unknown-job": (["next", "--job", "nope", *db], "nope"),
        "no-schedule": (["next", "--job", "adhoc", *db], "schedule"),
    }
    for name, (args, needle) in cases.items():
        done = cli(args, tmp_path)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)
        assert needle in done.stderr, (name, done.stderr)


def test_next_expression_still_works(tmp_path: Path) -> None:
    done = cli(
        ["next", "0 10 * * *", "--tz", "Europe/Berlin", "--after", AFTER, "-n", "1"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2026-03-06T10:00:00+01:00"


def test_next_expression_keeps_every_sixth_hour_through_a_half_hour_dst_shift(
    tmp_path: Path,
) -> None:
    # Lord Howe falls back 30 minutes at 02:00; 06:00 +10:30 used to be skipped.
    args = ["next", "0 */6 * * *", "--tz", "Australia/Lord_Howe"]
    done = cli([*args, "--after", "2026-04-04T23:00:00+11:00", "-n", "4"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "2026-04-05T00:00:00+11:00",
        "2026-04-05T06:00:00+10:30  (clocks changed since the fire before: UTC+11:00 → UTC+10:30)",
        "2026-04-05T12:00:00+10:30",
        "2026-04-05T18:00:00+10:30",
    ]
