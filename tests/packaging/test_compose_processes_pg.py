"""The processes deploy/compose.yaml starts, run with its exact commands against a real
PostgreSQL: the one-shot migration, the admin user the deployment guide creates, two workers,
a scheduler and its standby, and the API; then a job triggered through them, ``/health``
answered, and every process stopped by SIGTERM with exit status 0."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.support import TICKWORK, cli, start_tickwork, wait_for

pytestmark = pytest.mark.postgres

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _command(service: dict[str, Any], port: int) -> list[str]:
    """The service's command, with the API's port moved to a free one (tests run in parallel)."""
    args: list[str] = list(service["command"])
    if "--port" in args:
        args[args.index("--port") + 1] = str(port)
    return args


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            status: int = response.status
            return status
    except OSError:
        return 0


def test_the_compose_processes_on_postgresql(empty_pg_url: str, tmp_path: Path) -> None:
    services: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    # The container's working directory holds the mounted tickwork.toml; tickwork.env sets
    # the database URL.
    shutil.copy(DEPLOY / "tickwork.toml", tmp_path / "tickwork.toml")
    env = {"TICKWORK_DATABASE_URL": empty_pg_url, "TICKWORK_LOG_FORMAT": "json"}
    port = _free_port()

    done = cli(_command(services["migrate"], port), tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("schema at revision")
    # Bound to every address, the API refuses to start without a user (docs/how-to).
    created = subprocess.run(
        [TICKWORK, "users", "create", "admin", "--role", "admin", "--password-stdin"],
        input="a-long-enough-password\n",
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr

    names = ["worker", "worker", "scheduler", "scheduler-standby", "api"]
    procs = [start_tickwork(_command(services[n], port), tmp_path, env) for n in names]
    try:
        wait_for(lambda: _health(port) == 200, timeout=60)

        def roles() -> list[str] | None:
            done = cli(["status", "--json"], tmp_path, env)
            if done.returncode != 0:
                return None
            processors = json.loads(done.stdout)["processors"]
            found = sorted(p["role"] for p in processors if p["state"] == "running")
            found = [role for role in found if role in {"scheduler", "worker"}]
            return found if len(found) == 4 else None

        assert wait_for(roles, timeout=60) == ["scheduler", "scheduler", "worker", "worker"]

        done = cli(["jobs", "trigger", "hourly-ping"], tmp_path, env)
        assert done.returncode == 0, done.stderr

        def succeeded() -> bool:
            done = cli(["jobs", "history", "hourly-ping", "--json"], tmp_path, env)
            return done.returncode == 0 and [r["status"] for r in json.loads(done.stdout)] == [
                "succeeded"
            ]

        wait_for(succeeded, timeout=60)
    finally:
        # As `docker compose stop` does: SIGTERM to each, then wait.
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    for name, proc, out in zip(names, procs, outputs, strict=True):
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{out}"
