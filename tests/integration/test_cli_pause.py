"""``tickwork jobs pause`` / ``resume``, and the pause in ``jobs list`` / ``show``: real
subprocesses on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.support import cli, cli_json
from tickwork.domain.access import AuditQuery
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

DEFINITION = TaskDefinition(
    name="nightly-report",
    target=ShellTarget("true"),
    schedule="0 2 * * *",
    source=TaskSource.CONFIG,
)


async def defined(sqlite_url: str) -> dict[str, str]:
    store = create_store(sqlite_url)
    await store.open()
    try:
        await Service(Context(store, resolve=None)).sync_definitions(
            [DEFINITION], [TaskSource.CONFIG]
        )
    finally:
        await store.close()
    return {"TICKWORK_DATABASE_URL": sqlite_url, "COLUMNS": "200"}


async def test_pause_with_a_duration_shows_in_list_and_show_then_resume(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = await defined(sqlite_url)
    before = datetime.now(UTC)
    done = cli(
        ["jobs", "pause", "nightly-report", "--reason", "ledger migration", "--until", "2h"],
        tmp_path,
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nightly-report: paused until ")
    assert "ledger migration" in done.stdout

    shown = cli_json(["jobs", "show", "nightly-report"], tmp_path, env)
    assert shown["paused"] is True and shown["pause"]["reason"] == "ledger migration"
    until = datetime.fromisoformat(shown["pause"]["until"])
    assert before + timedelta(hours=2) <= until <= datetime.now(UTC) + timedelta(hours=2)
    assert shown["pause"]["paused_by"].startswith("cli:")

    text = cli(["jobs", "show", "nightly-report"], tmp_path, env)
    assert "ledger migration" in text.stdout and "until" in text.stdout
    listed = cli(["jobs", "list"], tmp_path, env)
    (row,) = [line for line in listed.stdout.splitlines() if "nightly-report" in line]
    assert "until" in row

    resumed = cli(["jobs", "resume", "nightly-report"], tmp_path, env)
    assert resumed.returncode == 0 and resumed.stdout == "nightly-report: resumed\n"
    assert cli_json(["jobs", "show", "nightly-report"], tmp_path, env)["pause"] is None
    listed = cli(["jobs", "list"], tmp_path, env)
    (row,) = [line for line in listed.stdout.splitlines() if "nightly-report" in line]
    assert "until" not in row

    store = create_store(sqlite_url)
    await store.open()
    try:
        entries = await Service(Context(store)).audit_log(AuditQuery(action="job."))
    finally:
        await store.close()
    assert [e.action for e in entries][:2] == ["job.resume", "job.pause"]


async def test_pause_until_a_time_and_until_resumed(sqlite_url: str, tmp_path: Path) -> None:
    env = await defined(sqlite_url)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    args = ["jobs", "pause", "nightly-report", "--reason", "r", "--until", until.isoformat()]
    job = cli_json(args, tmp_path, env)
    assert datetime.fromisoformat(job["pause"]["until"]) == until
    job = cli_json(["jobs", "pause", "nightly-report", "--reason", "open-ended"], tmp_path, env)
    assert job["pause"]["until"] is None and job["pause"]["reason"] == "open-ended"


async def test_bad_input_is_an_error_naming_the_option(sqlite_url: str, tmp_path: Path) -> None:
    env = await defined(sqlite_url)
    for until in ("soon", "2020-01-01T00:00:00+00:00", "2099-01-01T00:00:00"):
        done = cli(
            ["jobs", "pause", "nightly-report", "--reason", "r", "--until", until], tmp_path, env
        )
        assert done.returncode == 2, (until, done.stdout)
        assert "until" in done.stderr, done.stderr
    done = cli(["jobs", "pause", "nightly-report", "--reason", " "], tmp_path, env)
    assert done.returncode == 2 and "reason" in done.stderr
    assert cli(["jobs", "pause", "nightly-report"], tmp_path, env).returncode == 2  # no --reason
    done = cli(["jobs", "pause", "nope", "--reason", "r"], tmp_path, env)
    assert done.returncode != 0 and "nope" in done.stderr
    assert cli_json(["jobs", "show", "nightly-report"], tmp_path, env)["paused"] is False
