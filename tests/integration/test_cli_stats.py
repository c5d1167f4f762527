"""``tickwork stats``: real subprocesses on a real SQLite file whose rollups real completions
wrote; tables, JSON in the API's shape, and bad flags named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.support import cli, cli_json
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy
from tickwork.domain.tasks import HttpTarget, TaskDefinition
from tickwork.store import create_store


async def fill(url: str) -> None:
    store = create_store(url)
    await store.open()
    now = datetime.now(UTC)
    try:
        await store.add_missing_tasks(
            [
                TaskDefinition(
                    name="sync", target=HttpTarget("http://127.0.0.1:9/"), tags=("etl",)
                ),
                TaskDefinition(name="mail", target=HttpTarget("http://127.0.0.1:9/")),
            ],
            {},
            now,
        )
        for i, (task, key, ok) in enumerate(
            [
                ("sync", "eu", True),
                ("sync", "eu", True),
                ("sync", "us", False),
                ("mail", None, True),
            ]
        ):
            due = now - timedelta(hours=3, minutes=i)
            (job_id,) = await store.enqueue([NewJob(task, due, TriggeredBy.API, key=key)], due)
            (job,) = await store.claim("w", 1, due, 60)
            started = due + timedelta(seconds=2)
            outcome = Outcome.success() if ok else Outcome.failure("KeyError", f"no row {i}")
            await store.complete(
                [
                    Completion(
                        job_id=job_id,
                        task_name=task,
                        attempt=job.attempt,
                        triggered_by=TriggeredBy.API,
                        worker_id="w",
                        started_at=started,
                        finished_at=started + timedelta(seconds=1.5),
                        outcome=outcome,
                        next_state=JobState.SUCCEEDED if ok else JobState.FAILED,
                        due_at=job.scheduled_at,
                        key=job.key,
                    )
                ]
            )
    finally:
        await store.close()


async def test_stats_command(sqlite_url: str, tmp_path: Path) -> None:
    await fill(sqlite_url)
    env = {"TICKWORK_DATABASE_URL": sqlite_url, "COLUMNS": "100"}

    table = cli(["stats"], tmp_path, env)
    assert table.returncode == 0, table.stderr
    assert "sync" in table.stdout and "mail" in table.stdout and "66.7%" in table.stdout
    assert "(all)" in table.stdout

    data = cli_json(["stats", "--since", "1d", "--tag", "etl", "--by", "key"], tmp_path, env)
    assert [t["task"] for t in data["tasks"]] == ["sync"]
    (sync,) = data["tasks"]
    assert sync["runs"] == 3 and sync["succeeded"] == 2
    assert 2.0 / 1.42 <= sync["wait_p50_seconds"] <= 2.0 * 1.42
    assert {(k["key"], k["runs"], k["succeeded"]) for k in data["keys"]} == {
        ("eu", 2, 2),
        ("us", 1, 0),
    }
    assert data["errors"] == []  # only the view asked for

    errors = cli(["stats", "--by", "error", "--task", "sync"], tmp_path, env)
    assert errors.returncode == 0, errors.stderr
    assert "KeyError" in errors.stdout and "no row 2" in errors.stdout

    keyed = cli_json(["stats", "--key", "eu"], tmp_path, env)
    assert keyed["key"] == "eu" and keyed["overall"]["runs"] == 2
    assert keyed["overall"]["p50_duration_seconds"] is None  # per-key rollups hold counts only

    hourly = cli(["stats", "--since", "4h", "--by", "hour"], tmp_path, env)
    assert hourly.returncode == 0 and "minute rollups" in hourly.stdout
    assert "peak hours (UTC)" in hourly.stdout

    for args, field in (
        (["--since", "yesterday"], "since"),
        (["--since", "2026-01-01T00:00"], "since"),
        (["--by", "week"], "by"),
        (["--since", "900d"], "end"),
    ):
        done = cli(["stats", *args], tmp_path, env)
        assert done.returncode != 0, args
        assert done.stderr.startswith(f"error: {field}:"), (args, done.stderr)
        assert "Traceback" not in done.stderr
