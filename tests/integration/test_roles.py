"""`tickwork worker` and `tickwork scheduler` as separate processes on one PostgreSQL database,
`tickwork status`, and `tickwork reset-stuck` on a job whose worker was killed (SIGKILL)."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for
from tickwork.store.engines import normalize_url

TASKS = """
import time

def quick():
    return "quick done"

def nap(seconds):
    time.sleep(seconds)
"""


def write_project(root: Path, database_url: str) -> None:
    (root / "roles_tasks.py").write_text(TASKS)
    (root / "tickwork.toml").write_text(
        textwrap.dedent(f'''
        [tickwork]
        database_url = "{database_url}"
        poll_interval = "0.2s"
        lease = "60s"
        shutdown_timeout = "1s"

        [[jobs]]
        name = "tick"
        command = "echo tick"
        schedule = "* * * * * *"

        [[jobs]]
        name = "quick"
        task = "roles_tasks:quick"

        [[jobs]]
        name = "nap"
        task = "roles_tasks:nap"
        max_retries = 1
    ''')
    )


class Db:
    """Reads the store directly: polling through the CLI costs a second per call."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(normalize_url(url))

    def one(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).first()

    def state(self, job_id: int) -> str | None:
        row = self.one("SELECT state FROM tickwork_jobs WHERE id = :id", id=job_id)
        return None if row is None else str(row[0])


@pytest.mark.postgres
def test_worker_and_scheduler_processes_share_one_database(tmp_path: Path, pg_url: str) -> None:
    write_project(tmp_path, pg_url)
    assert cli(["db", "upgrade"], tmp_path).returncode == 0
    db = Db(pg_url)
    scheduler = start_tickwork(["scheduler", "--processor-id", "sched-1"], tmp_path)
    worker = start_tickwork(["worker", "--processor-id", "work-1"], tmp_path)
    try:
        # The scheduler fires `tick` every second, the worker runs it.
        wait_for(
            lambda: (
                db.one(
                    "SELECT count(*) FROM tickwork_jobs WHERE task_name = 'tick'"
                    " AND state = 'succeeded' AND worker_id = 'work-1'"
                )[0]
                >= 2
            )
        )
        quick = cli_json(["enqueue", "quick"], tmp_path)["id"]
        wait_for(lambda: db.state(quick) == "succeeded", interval=0.05)
        nap = cli_json(["enqueue", "nap", "--args", "[60]"], tmp_path)["id"]
        wait_for(lambda: db.state(nap) == "running", interval=0.05)

        status = cli_json(["status"], tmp_path)
        procs = {p["id"]: p for p in status["processors"]}
        assert procs["sched-1"]["role"] == "scheduler" and procs["work-1"]["role"] == "worker"
        assert procs["sched-1"]["state"] == procs["work-1"]["state"] == "running"
        assert procs["sched-1"]["running_jobs"] == 0
        assert procs["work-1"]["running_jobs"] >= 1  # nap (and maybe a tick)
        assert all(p["version"] and p["started_at"] and p["heartbeat_at"] for p in procs.values())

        worker.send_signal(signal.SIGKILL)  # the nap job stays `running`, its lease 60 s long
        worker.wait(timeout=10)
        assert db.state(nap) == "running"
        wait_for(
            lambda: db.one(
                "SELECT now() - started_at > interval '1.1 seconds' FROM tickwork_jobs"
                " WHERE id = :id",
                id=nap,
            )[0],
            interval=0.05,
        )
        done = cli(["reset-stuck", "--older-than", "1s"], tmp_path)
        assert done.returncode == 0, done.stderr
        assert "running longer than 1s" in done.stdout and f"job {nap} (nap" in done.stdout
        assert db.state(nap) == "available"  # one attempt of two spent
        assert cli_json(["reset-stuck", "--older-than", "1s"], tmp_path) == []
    finally:
        worker.kill()
        scheduler_out = stop(scheduler)
        db.engine.dispose()
    assert "Traceback" not in scheduler_out
    runs = cli_json(["jobs", "get", str(nap)], tmp_path)["runs"]
    assert [(r["status"], r["worker_id"]) for r in runs] == [("interrupted", "work-1")]
    assert runs[0]["error_message"] == "reset by an operator: running longer than 1s"
    procs = {p["id"]: p for p in cli_json(["status"], tmp_path)["processors"]}
    assert procs["sched-1"]["state"] == "stopped"
    assert procs["work-1"]["state"] == "running"  # killed: lost only after 3 missed heartbeats


def test_api_role_refuses_a_public_address_without_users(tmp_path: Path) -> None:
    """Without users the API lets every request in, so it serves on loopback only."""
    done = cli(["api", "--host", "0.0.0.0", "--port", "0"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "refusing to serve the API on 0.0.0.0: there are no users" in done.stderr
    assert "Traceback" not in done.stderr
