"""Crash recovery on SQLite (kill -9 mid-run), and `tickwork run` on PostgreSQL."""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import pytest

from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for

TASKS = """
import os, time

def slow_then_mark(path, seconds):
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write("done\\n")

def wait_then_mark(go, path):
    # Runs until the test creates ``go``: a running job, however slow the machine is.
    while not os.path.exists(go):
        time.sleep(0.02)
    with open(path, "a") as f:
        f.write("done\\n")
"""


def write_project(root: Path, database_url: str, lease: str = "2s") -> None:
    (root / "crash_tasks.py").write_text(TASKS)
    (root / "tickwork.toml").write_text(
        textwrap.dedent(f'''
        [tickwork]
        database_url = "{database_url}"
        poll_interval = "0.2s"
        lease = "{lease}"
        shutdown_timeout = "1s"

        [[jobs]]
        name = "slow"
        task = "crash_tasks:slow_then_mark"

        [[jobs]]
        name = "held"
        task = "crash_tasks:wait_then_mark"

        [[jobs]]
        name = "held-shell"
        command = "while [ ! -e go ]; do sleep 0.02; done; echo went"

        [[jobs]]
        name = "tick"
        command = "echo tick"
        schedule = "* * * * * *"
    ''')
    )


def test_kill_9_mid_run_loses_nothing(tmp_path: Path) -> None:
    # max_retries = 0: a dead worker is not the job's failure and spends no retry.
    write_project(tmp_path, f"sqlite:///{tmp_path / 'tw.db'}")
    go, marker = tmp_path / "go-python", tmp_path / "done.txt"
    first = start_tickwork(["run"], tmp_path)
    try:
        wait_for(lambda: cli(["jobs", "show", "held"], tmp_path).returncode == 0)
        args = json.dumps([str(go), str(marker)])
        job = cli_json(["enqueue", "held", "--args", args], tmp_path)["id"]
        wait_for(lambda: cli_json(["jobs", "get", str(job)], tmp_path)["state"] == "running")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert cli_json(["jobs", "get", str(job)], tmp_path)["state"] == "running"  # orphaned

    go.touch()
    second = start_tickwork(["run"], tmp_path)
    try:
        # The lease (2 s) expires, the reaper puts the job back, the new worker runs it.
        wait_for(
            lambda: cli_json(["jobs", "get", str(job)], tmp_path)["state"] == "succeeded",
            timeout=30,
        )
    finally:
        stop(second)
    runs = sorted(cli_json(["jobs", "get", str(job)], tmp_path)["runs"], key=lambda r: r["id"])
    assert [(r["status"], r["attempt"]) for r in runs] == [("interrupted", 1), ("succeeded", 2)]
    assert "lease expired" in runs[0]["error_message"]
    assert marker.read_text().split() == ["done"]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigterm_while_a_job_runs_waits_and_records_it(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    # The job ends within the shutdown window: the stop waits for it, writes its result, and
    # leaves nothing running or held by the stopped processor.
    url = (
        f"sqlite:///{tmp_path / 'tw.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    write_project(tmp_path, url)
    (tmp_path / "tickwork.toml").write_text(
        (tmp_path / "tickwork.toml").read_text().replace('"1s"', '"60s"')
    )
    proc = start_tickwork(["run"], tmp_path)
    log: list[str] = []
    try:
        wait_for(lambda: cli(["jobs", "show", "held-shell"], tmp_path).returncode == 0)
        job = cli_json(["jobs", "trigger", "held-shell"], tmp_path)["id"]
        wait_for(lambda: cli_json(["jobs", "get", str(job)], tmp_path)["state"] == "running")
        proc.send_signal(signal.SIGTERM)
        # The process says it waits for its running jobs; only then does the job end.
        assert proc.stdout is not None
        while not log or "waiting up to 60.0s for" not in log[-1]:
            line = proc.stdout.readline()
            assert line, "".join(log)
            log.append(line)
        (tmp_path / "go").touch()
    finally:
        log.append(stop(proc, signal.SIGTERM))
    done = cli_json(["jobs", "get", str(job)], tmp_path)
    assert done["state"] == "succeeded", (done, "".join(log))
    [run] = done["runs"]
    assert run["status"] == "succeeded" and "went" in run["output"]
    [processor] = cli_json(["status"], tmp_path)["processors"]
    assert processor["state"] == "stopped" and processor["running_jobs"] == 0


@pytest.mark.postgres
def test_run_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    write_project(tmp_path, pg_url, lease="60s")
    assert cli(["db", "current"], tmp_path).returncode == 0
    proc = start_tickwork(["run"], tmp_path)
    try:
        wait_for(
            lambda: (
                len(
                    cli_json(["jobs", "history", "tick"], tmp_path)
                    if cli(["jobs", "show", "tick"], tmp_path).returncode == 0
                    else []
                )
                >= 2
            )
        )
        job = cli_json(["enqueue", "slow", "--args", f'["{tmp_path / "m.txt"}", 0]'], tmp_path)[
            "id"
        ]
        wait_for(lambda: cli_json(["jobs", "get", str(job)], tmp_path)["state"] == "succeeded")
    finally:
        stop(proc)
    status = cli_json(["status"], tmp_path)
    assert status["jobs"]["succeeded"] >= 3
    assert status["processors"][0]["stopped_at"] is not None


def test_examples_config_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    db = f"sqlite:///{tmp_path / 'example.db'}"
    env = {"TICKWORK_DATABASE_URL": db}
    proc = start_tickwork(["run", "--config", "examples/tickwork.toml"], root, env)
    try:
        cfg = ["--config", "examples/tickwork.toml"]
        wait_for(
            lambda: cli([*cfg, "jobs", "show", "send-report"][2:] + cfg, root, env).returncode == 0
        )
        report = cli_json(["enqueue", "send-report", *cfg], root, env)["id"]
        disk = cli_json(["jobs", "trigger", "disk-usage", *cfg], root, env)["id"]
        for job in (report, disk):
            wait_for(
                lambda j=job: (
                    cli_json(["jobs", "get", str(j), *cfg], root, env)["state"] == "succeeded"
                )
            )
        run = cli_json(["jobs", "get", str(disk), *cfg], root, env)["runs"][0]
        assert "disk:" in run["output"]
        sent = cli_json(["jobs", "get", str(report), *cfg], root, env)["runs"][0]
        assert sent["result"] == {"recipient": "ops@example.com", "period": "daily", "sent": True}
    finally:
        stop(proc)
