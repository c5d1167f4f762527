"""``tickwork jobs undo-reschedule`` and the override in ``jobs show``: real subprocesses on a
real SQLite file, the override made by a real pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.support import cli, cli_json
from tickwork.clock import FakeClock
from tickwork.domain.access import AuditQuery
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.autoscheduler import AutoScheduler
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

DEFINITION = TaskDefinition(
    name="nightly-report", target=ShellTarget("true"), schedule="*/5 * * * *"
)


async def stretched(sqlite_url: str) -> dict[str, str]:
    """The job with 80 of its last 100 runs failed, stretched by a pass."""
    now = datetime.now(UTC).replace(microsecond=0)
    store = create_store(sqlite_url)
    await store.open()
    try:
        await Service(Context(store, resolve=None)).sync_definitions(
            [DEFINITION], [TaskSource.CODE]
        )
        start = now - timedelta(hours=3)
        ids = await store.enqueue(
            [NewJob(DEFINITION.name, start, TriggeredBy.API) for _ in range(100)], start
        )
        await store.claim("w", 100, start, 3600)
        done = []
        for i, job_id in enumerate(ids):
            failed = i % 5 != 4
            status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
            at = start + timedelta(minutes=i)
            done.append(
                Completion(
                    job_id=job_id,
                    task_name=DEFINITION.name,
                    attempt=1,
                    triggered_by=TriggeredBy.API,
                    worker_id="w",
                    started_at=at,
                    finished_at=at + timedelta(seconds=1),
                    outcome=Outcome.failure("E", "boom") if failed else Outcome(status),
                    next_state=JobState(status.value),
                )
            )
        await store.complete(done)
        auto = AutoScheduler(store, AutoSettings(enabled=True), clock=FakeClock(now))
        [change] = (await auto.run_once()).changes
        assert change.evidence == "80 of the last 100 runs failed"
    finally:
        await store.close()
    return {"TICKWORK_DATABASE_URL": sqlite_url, "COLUMNS": "200"}


async def test_show_and_undo_reschedule(sqlite_url: str, tmp_path: Path) -> None:
    env = await stretched(sqlite_url)
    shown = cli_json(["jobs", "show", "nightly-report"], tmp_path, env)
    assert shown["schedule"] == "*/5 * * * *"
    assert shown["auto"]["stride"] == 2 and shown["auto"]["effective"] == "every 2nd fire"
    text = cli(["jobs", "show", "nightly-report"], tmp_path, env)
    assert "every 2nd fire (since " in text.stdout
    assert "undo: tickwork jobs undo-reschedule nightly-report" in text.stdout

    undone = cli(["jobs", "undo-reschedule", "nightly-report"], tmp_path, env)
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout == "nightly-report: schedule restored to its definition\n"
    assert cli_json(["jobs", "show", "nightly-report"], tmp_path, env)["auto"] is None
    again = cli(["jobs", "undo-reschedule", "nightly-report"], tmp_path, env)
    assert again.returncode != 0 and "nothing to undo" in again.stderr

    store = create_store(sqlite_url)
    await store.open()
    try:
        entries = await Service(Context(store)).audit_log(AuditQuery(target="nightly-report"))
    finally:
        await store.close()
    assert [e.action for e in entries][:2] == ["job.undo_reschedule", "job.auto_reschedule"]
    assert entries[0].actor.startswith("cli:")
