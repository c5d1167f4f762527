"""``tickwork jobs events`` and ``tickwork missed``: real subprocesses on a real SQLite file
filled through the store as workers and schedulers fill it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import cli, cli_json
from tickwork.domain.activity import MissedReason, NewMissedFire, NewRunEvent, RunEventKind
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def filled(sqlite_url: str) -> dict[str, Any]:
    store = create_store(sqlite_url)
    await store.open()
    try:
        defs = [
            TaskDefinition(name=n, target=ShellTarget("true"), schedule="* * * * *")
            for n in ("sync-repos", "nightly")
        ]
        await Service(Context(store, resolve=None)).sync_definitions(defs, [TaskSource.CONFIG])
        (job_id,) = await store.enqueue([NewJob("sync-repos", NOW, TriggeredBy.MANUAL)], NOW)
        await store.add_run_events(
            [
                NewRunEvent(job_id, 1, "sync-repos", RunEventKind.PROGRESS, NOW, done=3, total=10),
                NewRunEvent(
                    job_id,
                    1,
                    "sync-repos",
                    RunEventKind.EVENT,
                    NOW,
                    "synced 40 repositories",
                    data={"processed": 40, "failed": 2},
                ),
            ]
        )
        await store.add_missed_fires(
            [
                NewMissedFire("nightly", NOW - timedelta(hours=2), MissedReason.NO_SCHEDULER),
                NewMissedFire("nightly", NOW - timedelta(hours=1), MissedReason.MISFIRE),
                NewMissedFire("sync-repos", NOW, MissedReason.OVERLAP, "busy"),
            ],
            NOW,
        )
    finally:
        await store.close()
    return {"env": {"TICKWORK_DATABASE_URL": sqlite_url}, "job_id": job_id}


def test_jobs_events(filled: dict[str, Any], tmp_path: Path) -> None:
    env, job_id = filled["env"], filled["job_id"]
    events = cli_json(["jobs", "events", str(job_id)], tmp_path, env)
    assert [e["kind"] for e in events] == ["progress", "event"]
    assert events[1]["data"] == {"processed": 40, "failed": 2}
    assert events[0]["at"].endswith("+00:00")  # times in ISO 8601
    table = cli(["jobs", "events", str(job_id)], tmp_path, {**env, "COLUMNS": "100"})
    assert table.returncode == 0, table.stderr
    assert "3/10" in table.stdout and "synced 40 repositories processed=40" in table.stdout
    missing = cli(["jobs", "events", "999999"], tmp_path, env)
    assert missing.returncode != 0 and "999999" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_missed(filled: dict[str, Any], tmp_path: Path) -> None:
    env = filled["env"]
    out = cli_json(["missed"], tmp_path, env)
    assert [(c["task"], c["total"], c["by_reason"]) for c in out["counts"]] == [
        ("nightly", 2, {"misfire": 1, "no_scheduler": 1}),
        ("sync-repos", 1, {"overlap": 1}),
    ]
    assert [m["reason"] for m in out["missed"]] == ["overlap", "misfire", "no_scheduler"]
    one = cli_json(["missed", "--task", "nightly", "--reason", "misfire"], tmp_path, env)
    assert [m["reason"] for m in one["missed"]] == ["misfire"]
    table = cli(["missed"], tmp_path, {**env, "COLUMNS": "120"})
    assert table.returncode == 0, table.stderr
    assert "no_scheduler=1" in table.stdout and "sync-repos" in table.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "a week"], "--since"),
        (["--reason", "late"], "--reason"),
        (["--task", "no-such-job"], "no-such-job"),
    ],
)
def test_missed_bad_input(
    filled: dict[str, Any], tmp_path: Path, args: list[str], named: str
) -> None:
    done = cli(["missed", *args], tmp_path, filled["env"])
    assert done.returncode != 0
    assert named in done.stderr and "Traceback" not in done.stderr
