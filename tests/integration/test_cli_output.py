"""What the commands print (issue 9, item 13): help texts keep their square brackets, tables fit
an 80-column terminal without wrapping a cell (``--wide`` shows every column in full), and
runs show what their task reported with ``tickwork.report``. Real subprocesses on a real
SQLite file, filled through the store as workers fill it."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.integration.support import TICKWORK, cli, cli_json
from tickwork.cli.main import app
from tickwork.domain.access import LOCAL, Role, Scope
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.accounts import Accounts
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

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


# --- tables ------------------------------------------------------------------------------------
NOW = datetime.now(UTC).replace(microsecond=0)
LONG_DESCRIPTION = (
    "Exports yesterday's invoices of every customer to the accounting system, then mails a summary"
)
REPORTED = {"processed": 1200, "failed": 3, "batch": "2026-03-05"}
DEFINITIONS = [
    TaskDefinition(
        name="nightly-invoice-export",
        target=ShellTarget("true"),
        schedule="30 2 * * MON-FRI",
        timezone="Europe/Berlin",
        description=LONG_DESCRIPTION,
        source=TaskSource.CONFIG,
    ),
    TaskDefinition(
        name="customer-sync-every-minute",
        target=ShellTarget("true"),
        schedule="* * * * *",
        description="Pulls changed customers from the CRM",
        source=TaskSource.CONFIG,
    ),
    TaskDefinition(
        name="ad-hoc-report-generator",
        target=ShellTarget("true"),
        description="[beta] Builds a report on request",
        source=TaskSource.CONFIG,
    ),
]
NAMES = [d.name for d in DEFINITIONS]


async def record_run(store: Any, task: str, outcome: Outcome, state: JobState) -> int:
    """A finished run recorded as a worker records it: enqueue, claim, complete."""
    (job_id,) = await store.enqueue([NewJob(task, NOW, TriggeredBy.MANUAL)], NOW)
    (job,) = await store.claim("worker-on-host-1", 1, NOW, 60)
    await store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=task,
                attempt=job.attempt,
                triggered_by=TriggeredBy.MANUAL,
                worker_id="worker-on-host-1",
                started_at=NOW,
                finished_at=NOW + timedelta(seconds=2.5),
                outcome=outcome,
                next_state=state,
            )
        ]
    )
    return job_id


@pytest.fixture
async def filled(sqlite_url: str, tmp_path: Path) -> dict[str, Any]:
    store = create_store(sqlite_url)
    await store.open()
    try:
        service = Service(Context(store, resolve=None))
        await service.sync_definitions(DEFINITIONS, [TaskSource.CONFIG])
        ok = await record_run(
            store, NAMES[0], Outcome.success(metrics=REPORTED), JobState.SUCCEEDED
        )
        failed = await record_run(
            store,
            NAMES[0],
            Outcome.failure(
                "ConnectionError",
                "the accounting system at https://accounting.example.com/api/v2 refused the"
                " connection after 3 attempts",
                metrics={"processed": 10},
            ),
            JobState.FAILED,
        )
        await store.enqueue([NewJob(NAMES[1], NOW + timedelta(hours=1), TriggeredBy.API)], NOW)
        accounts = Accounts(Context(store))
        await accounts.create_user("operations-oncall", Role.OPERATOR, None, actor=LOCAL)
        await accounts.create_token(
            "operations-oncall",
            "grafana-dashboard",
            frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER, Scope.AUDIT_READ}),
            NOW + timedelta(days=90),
            actor=LOCAL,
        )
        await store.heartbeat(
            ProcessorInfo(
                id="scheduler-on-a-host-with-a-long-name-4711",
                role="scheduler+worker",
                host="a-host-with-a-long-name",
                pid=4711,
                version="0.1.0",
                started_at=NOW,
                heartbeat_at=NOW,
                stopped_at=None,
            )
        )
    finally:
        await store.close()
    env = {"TICKWORK_DATABASE_URL": sqlite_url}
    # An audit entry made by the CLI itself.
    assert cli(["jobs", "disable", NAMES[1]], tmp_path, env).returncode == 0
    return {"env": env, "ok": ok, "failed": failed}


def table_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:1] in "┏┃┡│└"]


def rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def run_table(args: list[str], cwd: Path, env: dict[str, str], columns: int) -> str:
    done = subprocess.run(
        [TICKWORK, *args],
        cwd=cwd,
        env={**os.environ, **env, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


TABLES = {
    "jobs list": (["jobs", "list"], 3),
    "jobs history": (["jobs", "history", NAMES[0]], 2),
    "jobs show": (["jobs", "show", NAMES[0]], 2),
    "jobs queue": (["jobs", "queue"], 3),
    "status": (["status"], 1),
    "users list": (["users", "list"], 1),
    "tokens list": (["tokens", "list"], 1),
    "audit": (["audit"], 6),  # the sync's three job.create, user, token, disable
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_fit_80_columns_without_wrapping(
    filled: dict[str, Any], tmp_path: Path, name: str
) -> None:
    args, count = TABLES[name]
    out = run_table(args, tmp_path, filled["env"], 80)
    lines = table_lines(out)
    assert lines, out
    assert max(len(line) for line in lines) <= 80, out
    assert len(rows(out)) == count, out  # one line per row: no cell wraps
    wide = run_table([*args, "--wide"], tmp_path, filled["env"], 80)
    assert len(rows(wide)) == count, wide
    # --wide shows every column: at least as many as the fitted table, and never cut.
    assert lines[0].count("┳") <= table_lines(wide)[0].count("┳")
    assert "…" not in wide


def test_names_are_never_cut_and_wide_shows_all(filled: dict[str, Any], tmp_path: Path) -> None:
    narrow = run_table(["jobs", "list"], tmp_path, filled["env"], 80)
    for job in NAMES:
        assert job in narrow
    wide = run_table(["jobs", "list", "--wide"], tmp_path, filled["env"], 80)
    header = table_lines(wide)[1]
    for column in ("name", "schedule", "next fire (UTC)", "enabled", "kind", "description"):
        assert column in header
    assert LONG_DESCRIPTION in wide
    assert "[beta] Builds a report" in wide  # cells are text, never rich markup
    assert "30 2 * * MON-FRI (Europe/Berlin)" in wide
    assert max(len(line) for line in table_lines(wide)) > 80


def test_free_text_is_cut_before_columns_are_left_out(
    filled: dict[str, Any], tmp_path: Path
) -> None:
    out = run_table(["jobs", "list"], tmp_path, filled["env"], 150)
    header = table_lines(out)[1]
    assert "description" in header and "kind" in header
    assert LONG_DESCRIPTION not in out and "Exports yesterday" in out and "…" in out
    assert max(len(line) for line in table_lines(out)) <= 150


# --- reported metrics --------------------------------------------------------------------------
def test_history_and_get_show_what_a_run_reported(filled: dict[str, Any], tmp_path: Path) -> None:
    env = filled["env"]
    text = "processed=1200 failed=3 batch=2026-03-05"
    history = run_table(["jobs", "history", NAMES[0]], tmp_path, env, 200)
    assert "reported" in table_lines(history)[1]
    assert text in history and "processed=10" in history
    got = run_table(["jobs", "get", str(filled["ok"]), "--wide"], tmp_path, env, 80)
    assert text in got
    runs = cli_json(["jobs", "history", NAMES[0]], tmp_path, env)
    assert [r["metrics"] for r in runs] == [{"processed": 10}, REPORTED]
    job = cli_json(["jobs", "get", str(filled["failed"])], tmp_path, env)
    assert job["runs"][0]["metrics"] == {"processed": 10}
    assert job["runs"][0]["status"] == RunStatus.FAILED.value
