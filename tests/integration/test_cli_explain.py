"""`tickwork explain`, `tickwork load` and the notes of `tickwork next`, as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.support import cli
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store


async def define(url: str, missed: datetime) -> None:
    store = create_store(url)
    await store.open()
    try:
        await Service(Context(store, resolve=None)).sync_definitions(
            [
                TaskDefinition(
                    name="report",
                    target=ShellTarget("true"),
                    schedule="every 10m",
                    source=TaskSource.CONFIG,
                )
            ],
            [TaskSource.CONFIG],
        )
        await store.add_missed_fires(
            [NewMissedFire("report", missed, MissedReason.MISFIRE, "late")], missed
        )
    finally:
        await store.close()


async def test_explain_load_and_next_notes(sqlite_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    missed = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 10 + 10)
    await define(sqlite_url, missed)
    db = ["--database-url", sqlite_url]

    done = cli(["explain", "report", "--window", "30m", *db], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("report: every 10m (UTC)\n")
    assert f"{missed:%Y-%m-%d %H:%M:%S} UTC: missed (misfire)" in done.stdout
    done = cli(["explain", "report", "--at", "1h", "--json", *db], tmp_path)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    # Two hours of fires every 10 minutes (13 when the time falls on a fire).
    assert body["job"] == "report" and len(body["fires"]) in (12, 13)
    done = cli(["explain", "report", "--window", "often", *db], tmp_path)
    assert done.returncode == 2 and "window" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    done = cli(["load", "--days", "1", "--json", *db], tmp_path)
    assert done.returncode == 0, done.stderr
    load = json.loads(done.stdout)
    assert (load["schedules"], load["total_starts"], load["peak_starts"]) == (1, 144, 1)
    done = cli(["load", "--days", "1", *db], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 schedule over 1 day from" in done.stdout and "no runs yet" in done.stdout

    done = cli(
        [
            "next",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--after",
            "2026-03-28T12:00:00Z",
            "-n",
            "1",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "2026-03-29T03:00:00+02:00  (clocks jump forward from 02:00 to 03:00"
        " (UTC+01:00 → UTC+02:00): 02:30 does not exist that day, so it fires at 03:00)"
    )
