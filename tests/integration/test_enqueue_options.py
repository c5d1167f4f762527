"""`tickwork enqueue` with unique keys and deadlines, against a real `tickwork run` process."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for

TASKS_MODULE = """
import os

def alarm(job_id, task):
    with open(os.environ["ALARM_FILE"], "a") as f:
        f.write(f"{task} {job_id}\\n")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALARM_FILE", str(tmp_path / "alarms.txt"))
    (tmp_path / "deadline_tasks.py").write_text(TASKS_MODULE)
    (tmp_path / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "sqlite:///{tmp_path / "tw.db"}"
        poll_interval = "0.2s"

        [[jobs]]
        name = "slow"
        command = "sleep 3"

        [[jobs]]
        name = "fast"
        command = "true"

        [[jobs]]
        name = "alarm"
        task = "deadline_tasks:alarm"
        """)
    )
    return tmp_path


def job(project: Path, job_id: int) -> Any:
    return cli_json(["jobs", "get", str(job_id)], project)


def watchdog_of(project: Path, job_id: int) -> Any:
    watchdogs = cli_json(["jobs", "queue", "--task", "alarm"], project)
    [found] = [w for w in watchdogs if w["kwargs"]["job_id"] == job_id]
    return found


def test_deadline_alarm_runs_or_is_cancelled_and_unique_keys(project: Path) -> None:
    proc = start_tickwork(["run"], project)
    try:
        wait_for(lambda: cli(["jobs", "show", "alarm"], project).returncode == 0)
        deadline = ["--deadline", "1s", "--on-deadline", "alarm"]
        slow = cli_json(["enqueue", "slow", *deadline], project)["id"]
        # Fast finishes well inside its deadline (a few seconds, so a slow machine passes).
        fast = cli_json(["enqueue", "fast", "--deadline", "5s", "--on-deadline", "alarm"], project)[
            "id"
        ]
        assert watchdog_of(project, slow)["kwargs"] == {"job_id": slow, "task": "slow"}

        # The alarm fires at the deadline, while the slow job is still running.
        wait_for(lambda: job(project, slow)["state"] == "succeeded")
        alarm = watchdog_of(project, slow)
        assert alarm["state"] == "succeeded"
        [alarm_run] = job(project, alarm["id"])["runs"]
        [slow_run] = job(project, slow)["runs"]
        times = [slow_run["started_at"], alarm_run["started_at"], slow_run["finished_at"]]
        started, alarmed, finished = [datetime.fromisoformat(t) for t in times]
        assert started < alarmed < finished
        assert (project / "alarms.txt").read_text().split("\n") == [f"slow {slow}", ""]

        assert job(project, fast)["state"] == "succeeded"
        fast_alarm = watchdog_of(project, fast)
        assert fast_alarm["state"] == "cancelled"
        assert fast_alarm["last_error"] == f"watched job {fast} succeeded in time"
        assert job(project, fast_alarm["id"])["runs"] == []

        # Unique keys: the queued job's ID comes back; after it finished, only within the window.
        unique = ["--unique-key", "nightly", "--delay", "1h"]
        first = cli_json(["enqueue", "fast", *unique], project)["id"]
        assert cli_json(["enqueue", "fast", *unique], project)["id"] == first
        assert cli_json(["jobs", "cancel", str(first)], project)["state"] == "cancelled"
        windowed = ["enqueue", "fast", *unique, "--unique-for", "10m"]
        assert cli_json(windowed, project)["id"] == first
        assert cli_json(["enqueue", "fast", *unique], project)["id"] != first

        # Bad combinations are refused with one line naming the field, exit status 2.
        for args, text in [
            (["--deadline", "1s"], "on_deadline"),
            (["--deadline", "1s", "--deadline-at", "2030-01-01T00:00:00Z"], "not both"),
            (["--deadline", "1s", "--on-deadline", "nope"], "nope"),
        ]:
            done = cli(["enqueue", "fast", *args], project)
            assert done.returncode == 2 and text in done.stderr, (args, done.stderr)
    finally:
        stop(proc)
    # The --deadline-at form.
    at_id = cli_json(
        [
            "enqueue",
            "fast",
            "--deadline-at",
            "2099-01-01T00:00:00+00:00",
            "--on-deadline",
            "alarm",
        ],
        project,
    )["id"]
    assert watchdog_of(project, at_id)["scheduled_at"].startswith("2099-01-01T00:00:00")
