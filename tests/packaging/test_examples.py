"""The examples of examples/ run: the crontab replacement (shell and HTTP jobs only) on SQLite,
and the PostgreSQL cluster set-up with separate worker and scheduler processes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import RecordingServer, cli, start_tickwork, stop, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    s = RecordingServer()
    yield s
    s.close()


def _succeeded(name: str, cwd: Path, env: dict[str, str]) -> bool:
    done = cli(["jobs", "history", name, "--json"], cwd, env)
    return done.returncode == 0 and any(r["status"] == "succeeded" for r in json.loads(done.stdout))


def test_crontab_example(tmp_path: Path, server: RecordingServer) -> None:
    logs, backups, data = (tmp_path / d for d in ("logs", "backups", "data"))
    for folder in (logs, backups, data):
        folder.mkdir()
    old, fresh = logs / "old.log", logs / "fresh.log"
    for path in (old, fresh):
        path.write_text("x")
    weeks_ago = time.time() - 20 * 86400
    os.utime(old, (weeks_ago, weeks_ago))
    (data / "state.json").write_text("{}")
    env = {
        "TICKWORK_CONFIG": str(EXAMPLES / "crontab" / "tickwork.toml"),
        "TICKWORK_DATABASE_URL": f"sqlite:///{tmp_path / 'tw.db'}",
        "TICKWORK_POLL_INTERVAL": "0.2s",
        "APP_LOG_DIR": str(logs),
        "BACKUP_DIR": str(backups),
        "APP_DATA_DIR": str(data),
        "APP_URL": f"http://127.0.0.1:{server.port}",
    }
    proc = start_tickwork(["run"], tmp_path, env)
    try:
        names = ["rotate-logs", "backup", "warm-cache", "uptime"]
        wait_for(lambda: cli(["jobs", "show", "uptime"], tmp_path, env).returncode == 0)
        for name in names:
            done = cli(["jobs", "trigger", name], tmp_path, env)
            assert done.returncode == 0, done.stderr
        for name in names:
            wait_for(lambda name=name: _succeeded(name, tmp_path, env), timeout=60)
    finally:
        stop(proc, signal.SIGTERM)
    assert not old.exists() and fresh.exists()
    assert len(list(backups.glob("app-*.tar.gz"))) == 1
    assert ("POST", "/internal/warm-cache") in server.requests
    assert ("GET", "/healthz") in server.requests


@pytest.mark.postgres
def test_postgres_cluster_example(empty_pg_url: str, tmp_path: Path) -> None:
    env = {
        "TICKWORK_CONFIG": str(EXAMPLES / "postgres-cluster" / "tickwork.toml"),
        "TICKWORK_DATABASE_URL": empty_pg_url,
    }
    done = cli(["db", "upgrade"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    procs = [start_tickwork([role], tmp_path, env) for role in ("worker", "worker", "scheduler")]
    try:
        wait_for(lambda: cli(["jobs", "show", "sync-customer"], tmp_path, env).returncode == 0)
        for key in ("customer-1", "customer-2", "customer-3"):
            done = cli(["enqueue", "sync-customer", "--key", key], tmp_path, env)
            assert done.returncode == 0, done.stderr
        done = cli(["jobs", "trigger", "send-invoices"], tmp_path, env)
        assert done.returncode == 0, done.stderr

        def finished() -> bool:
            done = cli(["jobs", "history", "sync-customer", "--json"], tmp_path, env)
            runs = json.loads(done.stdout) if done.returncode == 0 else []
            return [r["status"] for r in runs] == ["succeeded"] * 3 and _succeeded(
                "send-invoices", tmp_path, env
            )

        wait_for(finished, timeout=60)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
