"""`tickwork run` as a real process on a SQLite file: all three job kinds, end to end."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import (
    RecordingServer,
    cli,
    cli_json,
    start_tickwork,
    stop,
    wait_for,
)

TASKS_MODULE = """
import os, time

def record(tag):
    with open(os.environ["OUT_FILE"], "a") as f:
        f.write(tag + "\\n")
    return {"tag": tag}

def boom():
    import tickwork
    raise tickwork.Retry("boom on purpose")

async def slow_async(seconds):
    import asyncio
    await asyncio.sleep(seconds)
"""


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    s = RecordingServer()
    yield s
    s.close()


@pytest.fixture
def project(tmp_path: Path, server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI reads the same config, so its variables must be set for every command.
    monkeypatch.setenv("TAG", "from-env")
    monkeypatch.setenv("OUT_FILE", str(tmp_path / "out.txt"))
    (tmp_path / "it_tasks.py").write_text(TASKS_MODULE)
    (tmp_path / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "sqlite:///{tmp_path / "tw.db"}"
        poll_interval = "0.2s"

        [[jobs]]
        name = "py-every-second"
        task = "it_tasks:record"
        args = ["${{TAG}}"]
        schedule = "* * * * * *"

        [[jobs]]
        name = "shell-every-second"
        command = "echo shell-ran; echo to-stderr >&2"
        schedule = "* * * * * *"

        [[jobs]]
        name = "http-every-second"
        schedule = "every 1s"
        [jobs.http]
        method = "POST"
        url = "http://127.0.0.1:{server.port}/ping"
        json = {{ hello = "world" }}

        [[jobs]]
        name = "flaky"
        task = "it_tasks:boom"
        max_retries = 2
        backoff = {{ base = "0.1s", factor = 2, cap = "1s", jitter = false }}

        [[jobs]]
        name = "too-slow"
        command = "sleep 30"
        timeout = "0.5s"

        [[jobs]]
        name = "long"
        command = "sleep 30"

        [[jobs]]
        name = "medium"
        command = "while [ ! -e go ]; do sleep 0.02; done"

        [[jobs]]
        name = "later"
        task = "it_tasks:record"
        args = ["later"]
    """)
    )
    return tmp_path


def history(project: Path, name: str) -> list[dict[str, object]]:
    done = cli(["jobs", "history", name, "--limit", "50", "--json"], project)
    if done.returncode != 0:  # `tickwork run` has not made the database or synced it yet
        starting = ("tickwork db upgrade", "no job named")  # no database, tables, or sync yet
        assert any(s in done.stderr for s in starting), done.stderr
        return []
    runs: list[dict[str, object]] = json.loads(done.stdout)
    return runs


def wait_synced(project: Path) -> None:
    wait_for(lambda: cli(["jobs", "show", "later"], project).returncode == 0)


def test_run_executes_all_kinds_and_records_runs(project: Path, server: RecordingServer) -> None:
    proc = start_tickwork(["run"], project)
    try:
        wait_for(lambda: len(history(project, "py-every-second")) >= 2)
        wait_for(lambda: len(history(project, "shell-every-second")) >= 2)
        wait_for(lambda: len(history(project, "http-every-second")) >= 2)

        # Manual trigger, a failing job with retries and a timeout.
        assert cli(["jobs", "trigger", "flaky"], project).returncode == 0
        assert cli(["jobs", "trigger", "too-slow"], project).returncode == 0
        flaky = wait_for(lambda: (h := history(project, "flaky")) and len(h) == 3 and h)
        slow = wait_for(lambda: history(project, "too-slow"))
    finally:
        out = stop(proc)

    py = history(project, "py-every-second")
    assert all(r["status"] == "succeeded" and r["triggered_by"] == "scheduler" for r in py)
    assert py[0]["result"] == {"tag": "from-env"}
    assert "from-env" in (project / "out.txt").read_text()

    sh = history(project, "shell-every-second")[0]
    assert sh["status"] == "succeeded" and sh["exit_code"] == 0
    assert "shell-ran" in str(sh["output"]) and "to-stderr" in str(sh["output"])

    assert ("POST", "/ping") in server.requests
    assert history(project, "http-every-second")[0]["status"] == "succeeded"

    # Oldest first: attempt 1 by the manual trigger, then two retries, spaced by the backoff.
    flaky = sorted(flaky, key=lambda r: int(str(r["attempt"])))
    assert [r["attempt"] for r in flaky] == [1, 2, 3]
    assert [r["triggered_by"] for r in flaky] == ["manual", "retry", "retry"]
    assert all(r["status"] == "failed" for r in flaky)
    assert flaky[0]["error_type"] == "Retry" and "boom" in str(flaky[0]["error_message"])
    assert "Traceback" in str(flaky[0]["traceback"])
    job = cli_json(["jobs", "get", str(flaky[0]["job_id"])], project)
    assert job["state"] == "failed"

    assert slow[0]["status"] == "timeout"
    assert float(str(slow[0]["duration_seconds"])) < 5
    assert "processor" in out and "stopped" in out


def test_enqueue_delay_and_cancel(project: Path) -> None:
    proc = start_tickwork(["run"], project)
    try:
        wait_synced(project)
        assert cli(["jobs", "disable", "py-every-second"], project).returncode == 0
        now_id = cli_json(["enqueue", "later", "--args", '["now"]'], project)["id"]
        t0 = time.monotonic()
        delayed = cli_json(
            ["enqueue", "later", "--args", '["delayed"]', "--delay", "1.5s"], project
        )["id"]
        doomed = cli_json(["enqueue", "later", "--delay", "1h"], project)["id"]
        assert cli_json(["jobs", "cancel", str(doomed)], project)["state"] == "cancelled"

        wait_for(lambda: cli_json(["jobs", "get", str(now_id)], project)["state"] == "succeeded")
        wait_for(lambda: cli_json(["jobs", "get", str(delayed)], project)["state"] == "succeeded")
        assert time.monotonic() - t0 >= 1.4
        job = cli_json(["jobs", "get", str(delayed)], project)
        assert job["triggered_by"] == "manual"
        assert job["runs"][0]["status"] == "succeeded"
    finally:
        stop(proc)
    assert cli_json(["jobs", "get", str(doomed)], project)["runs"] == []
    lines = (project / "out.txt").read_text().split()
    assert "now" in lines and "delayed" in lines


def test_sigterm_stops_cleanly_and_nothing_stays_running(project: Path) -> None:
    import signal

    (project / "tickwork.toml").write_text(
        (project / "tickwork.toml")
        .read_text()
        .replace('poll_interval = "0.2s"', 'poll_interval = "0.2s"\nshutdown_timeout = "0.5s"')
    )
    proc = start_tickwork(["run"], project)
    try:
        wait_synced(project)
        job = cli_json(["enqueue", "medium"], project)["id"]
        wait_for(lambda: cli_json(["jobs", "get", str(job)], project)["state"] == "running")
    finally:
        stop(proc, signal.SIGTERM)
    released = cli_json(["jobs", "get", str(job)], project)
    assert released["state"] == "available"
    assert released["runs"][0]["status"] == "interrupted"
    assert "released" in str(released["runs"][0]["error_message"])
    # The next start runs the released job to the end, with the attempt the stop added.
    (project / "go").touch()
    again = start_tickwork(["run"], project)
    try:
        wait_for(lambda: cli_json(["jobs", "get", str(job)], project)["state"] == "succeeded")
    finally:
        stop(again, signal.SIGTERM)
    runs = sorted(cli_json(["jobs", "get", str(job)], project)["runs"], key=lambda r: r["id"])
    assert [(r["status"], r["attempt"]) for r in runs] == [("interrupted", 1), ("succeeded", 2)]
