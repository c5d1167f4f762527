"""``tickwork jobs retry``: a real subprocess on a real SQLite file with a finished job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import cli, cli_json
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def jobs(sqlite_url: str) -> dict[str, Any]:
    """A failed job and a pending one of the task ``sync``."""
    store = create_store(sqlite_url)
    await store.open()
    try:
        defn = TaskDefinition(name="sync", target=ShellTarget("true"), schedule="* * * * *")
        await Service(Context(store, resolve=None)).sync_definitions([defn], [TaskSource.CONFIG])
        (failed,) = await store.enqueue([NewJob("sync", NOW, TriggeredBy.MANUAL)], NOW)
        (claimed,) = await store.claim("w", 1, NOW, 60)
        await store.complete(
            [
                Completion(
                    job_id=failed,
                    task_name="sync",
                    attempt=claimed.attempt,
                    triggered_by=TriggeredBy.MANUAL,
                    worker_id="w",
                    started_at=NOW,
                    finished_at=NOW,
                    outcome=Outcome.failure("Boom", "it broke"),
                    next_state=JobState.FAILED,
                )
            ]
        )
        (pending,) = await store.enqueue([NewJob("sync", NOW, TriggeredBy.MANUAL)], NOW)
    finally:
        await store.close()
    return {"env": {"TICKWORK_DATABASE_URL": sqlite_url}, "failed": failed, "pending": pending}


def test_jobs_retry(jobs: dict[str, Any], tmp_path: Path) -> None:
    env = jobs["env"]
    new = cli_json(["jobs", "retry", str(jobs["failed"])], tmp_path, env)
    assert new["id"] not in (jobs["failed"], jobs["pending"])
    assert new["task"] == "sync" and new["state"] == "available"
    assert new["requested_by"].startswith("cli:")
    plain = cli(["jobs", "retry", str(jobs["failed"])], tmp_path, env)
    assert plain.returncode == 0, plain.stderr
    assert int(plain.stdout) > new["id"]
    refused = cli(["jobs", "retry", str(jobs["pending"])], tmp_path, env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: job {jobs['pending']} is available; only a finished job can be retried"
    )
    missing = cli(["jobs", "retry", "999999"], tmp_path, env)
    assert missing.returncode == 2 and "no job with ID 999999" in missing.stderr
