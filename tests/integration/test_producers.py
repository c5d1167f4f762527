"""Producers before, during and after the first start (issue 9, items 7, 8 and 13), as real
processes: the README's Python app and `tickwork enqueue|jobs trigger|jobs list` work on a
fresh database, arguments are checked when a job is enqueued, processes that start while jobs
are enqueued lose none of them (PostgreSQL), and what a start-up sync changes is audited."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for

TASKS = """
import os

def hello(name, greeting="hello"):
    line = f"{greeting}, {name}"
    out = os.environ.get("HELLO_FILE")
    if out:
        with open(out, "a") as f:
            f.write(line + "\\n")
    return line
"""

# The README's example, as a new user runs it: `python myapp.py` on a fresh database.
README_APP = """
from tickwork import Tickwork

app = Tickwork("sqlite:///tickwork.db")

@app.task(schedule="*/5 * * * *", timeout="30s", max_retries=3)
async def refresh_cache() -> None:
    ...

@app.task
def send_email(to: str, subject: str) -> None:
    ...

if __name__ == "__main__":
    print(send_email.enqueue("a@example.com", subject="hi"))
    print(send_email.options(delay="10m", key="user-42").enqueue("b@example.com", subject="later"))
"""


def write_project(
    root: Path, database_url: str, schedule: str = "@daily", more_jobs: str = ""
) -> None:
    (root / "hello_tasks.py").write_text(TASKS)
    (root / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "{database_url}"
        poll_interval = "0.2s"

        [[jobs]]
        name = "hello"
        task = "hello_tasks:hello"
        kwargs = {{ name = "auditor" }}

        [[jobs]]
        name = "keyed"
        task = "hello_tasks:hello"
        kwargs = {{ name = "keyed" }}
        schedule = "{schedule}"

        [[jobs]]
        name = "probe"
        command = "true"
        """)
        + more_jobs
    )


def test_the_readme_app_enqueues_on_a_fresh_database(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(README_APP)
    done = subprocess.run(
        [sys.executable, "myapp.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr  # was: NotFoundError: no job named 'send_email'
    first, second = (int(line) for line in done.stdout.split())
    db = ["--database-url", f"sqlite:///{tmp_path / 'tickwork.db'}"]
    job = cli_json(["jobs", "get", str(first), *db], tmp_path)
    assert (job["task"], job["args"], job["kwargs"]) == (
        "send_email",
        ["a@example.com"],
        {"subject": "hi"},
    )
    assert cli_json(["jobs", "get", str(second), *db], tmp_path)["state"] == "scheduled"
    tasks = {t["name"]: t for t in cli_json(["jobs", "list", *db], tmp_path)}
    assert set(tasks) == {"refresh_cache", "send_email"}
    assert tasks["refresh_cache"]["next_fire_at"] is not None  # its schedule is in place
    created = cli_json(["audit", "--action", "job.create", *db], tmp_path)
    assert {e["actor"].split(":")[0] for e in created} == {"app"}


def test_cli_commands_know_the_config_jobs_before_any_process_started(tmp_path: Path) -> None:
    write_project(tmp_path, f"sqlite:///{tmp_path / 'tw.db'}")
    assert cli(["db", "upgrade"], tmp_path).returncode == 0
    enqueued = cli(["enqueue", "keyed"], tmp_path)
    assert enqueued.returncode == 0, enqueued.stderr  # was: error: no job named 'keyed'
    triggered = cli(["jobs", "trigger", "probe"], tmp_path)
    assert triggered.returncode == 0, triggered.stderr
    listed = cli_json(["jobs", "list"], tmp_path)
    assert [t["name"] for t in listed] == ["hello", "keyed", "probe"]
    assert next(t for t in listed if t["name"] == "keyed")["next_fire_at"] is not None
    entries = cli_json(["audit", "--action", "job.create"], tmp_path)
    assert sorted(e["target"] for e in entries) == ["hello", "keyed", "probe"]
    assert {e["actor"].split(":")[0] for e in entries} == {"cli"}


def test_enqueue_arguments_override_the_definitions_and_are_checked(tmp_path: Path) -> None:
    write_project(tmp_path, f"sqlite:///{tmp_path / 'tw.db'}")
    out = tmp_path / "hello.txt"
    env = {"HELLO_FILE": str(out)}
    assert cli(["db", "upgrade"], tmp_path).returncode == 0
    # The issue: this job failed at run time with "got multiple values for argument 'name'".
    job_id = cli_json(["enqueue", "hello", "--args", '["x"]'], tmp_path)["id"]
    job = cli_json(["jobs", "get", str(job_id)], tmp_path)
    assert (job["args"], job["kwargs"]) == (["x"], {})
    bad = cli(["enqueue", "hello", "--kwargs", '{"nme": "x"}'], tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: job 'hello': kwargs: unexpected keyword argument 'nme'"
        " (the task takes: name, greeting=...)"
    ]
    too_many = cli(["enqueue", "hello", "--args", '["a", "b", "c"]'], tmp_path)
    assert too_many.returncode == 2 and "too many positional arguments" in too_many.stderr
    assert [j["id"] for j in cli_json(["jobs", "queue"], tmp_path)] == [job_id]

    worker = start_tickwork(["worker"], tmp_path, env)
    try:
        wait_for(lambda: cli_json(["jobs", "get", str(job_id)], tmp_path)["state"] == "succeeded")
    finally:
        stop(worker)
    assert out.read_text() == "hello, x\n"


def test_what_a_start_up_sync_changes_is_audited_by_the_processor(tmp_path: Path) -> None:
    write_project(tmp_path, f"sqlite:///{tmp_path / 'tw.db'}", schedule="@daily")

    def changes() -> list[dict[str, Any]]:
        done = cli(["audit", "--target", "keyed", "--json"], tmp_path)
        if done.returncode != 0:  # the first process has not created the database yet
            assert "tickwork db upgrade" in done.stderr, done.stderr
            return []
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[::-1]

    first = start_tickwork(["scheduler", "--processor-id", "node-a"], tmp_path)
    try:
        wait_for(lambda: len(changes()) == 1)
    finally:
        stop(first)
    write_project(tmp_path, f"sqlite:///{tmp_path / 'tw.db'}", schedule="@hourly")
    second = start_tickwork(["scheduler", "--processor-id", "node-b"], tmp_path)
    try:
        wait_for(lambda: len(changes()) == 2)
    finally:
        stop(second)
    create, update = changes()
    assert (create["actor"], create["action"]) == ("processor:node-a", "job.create")
    assert create["after"]["schedule"] == "@daily"
    assert (update["actor"], update["action"]) == ("processor:node-b", "job.update")
    assert (update["before"]["schedule"], update["after"]["schedule"]) == ("@daily", "@hourly")


@pytest.mark.postgres
def test_enqueues_while_processes_start_on_postgres(pg_url: str, tmp_path: Path) -> None:
    # `tickwork enqueue` calls before any process exists, then more while two schedulers and
    # three workers start and sync the same definitions, some of them for a job no process
    # has synced yet: every call gets a job (none sees "no job named"), no process fails its
    # sync, and every job runs once. (The run: 40 calls lost one.)
    write_project(tmp_path, pg_url)
    out = tmp_path / "hello.txt"
    env = {"HELLO_FILE": str(out)}
    assert cli(["db", "upgrade"], tmp_path).returncode == 0

    def enqueue(job: str, i: int) -> subprocess.CompletedProcess[str]:
        return cli(["enqueue", job, "--kwargs", json.dumps({"name": f"{job}-{i}"})], tmp_path)

    results = [enqueue("hello", i) for i in range(2)]  # no process has ever started
    # A new job in the file: the processes' syncs and the producers' registrations race.
    write_project(tmp_path, pg_url, more_jobs=NEW_JOB)
    procs: list[subprocess.Popen[str]] = []
    with ThreadPoolExecutor(4) as pool:
        roles = ["scheduler"] * 2 + ["worker"] * 3
        procs = [
            start_tickwork([role, "--processor-id", f"p{n}"], tmp_path, env)
            for n, role in enumerate(roles)
        ]
        try:
            during = [pool.submit(enqueue, ("fresh", "hello")[i % 2], i) for i in range(2, 18)]
            results += [f.result() for f in during]
            assert [r.stderr for r in results if r.returncode != 0] == []
            assert len({int(r.stdout) for r in results}) == 18
            wait_for(lambda: _lines(out) >= 18, timeout=60)
        finally:
            outputs = [stop(p) for p in procs]
    assert all("definitions synced" in o and "Traceback" not in o for o in outputs), outputs
    names = [f"{('fresh', 'hello')[i % 2] if i >= 2 else 'hello'}-{i}" for i in range(18)]
    assert sorted(out.read_text().splitlines()) == sorted(f"hello, {n}" for n in names)
    states = cli_json(["jobs", "queue", "--limit", "100"], tmp_path)
    assert {j["state"] for j in states} == {"succeeded"} and len(states) == 18
    tasks = cli_json(["jobs", "list"], tmp_path)
    assert [t["name"] for t in tasks] == ["fresh", "hello", "keyed", "probe"]


NEW_JOB = """
[[jobs]]
name = "fresh"
task = "hello_tasks:hello"
"""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0
