"""``tickwork run`` as a real process: its ``/metrics`` from live rows (processors, queue,
schedules, its worker's claims) and its JSON log lines."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import free_port
from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for


def write_project(tmp_path: Path) -> None:
    (tmp_path / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "sqlite:///{tmp_path / "tw.db"}"
        poll_interval = "0.2s"

        [[jobs]]
        name = "tick"
        command = "true"
        schedule = "* * * * * *"

        [[jobs]]
        name = "broken"
        command = "echo failing on purpose; exit 3"
        """)
    )


def scrape(url: str) -> dict[str, list[Any]] | None:
    try:
        response = httpx.get(f"{url}/metrics", timeout=5)
    except httpx.HTTPError:
        return None  # not listening yet
    assert response.status_code == 200, response.text
    return {f.name: list(f.samples) for f in text_string_to_metric_families(response.text)}


def test_run_serves_live_metrics_and_logs_json(tmp_path: Path) -> None:
    write_project(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_tickwork(["run", "--port", str(port), "--log-format", "json"], tmp_path)
    try:

        def claimed_and_fired() -> dict[str, list[Any]] | None:
            families = scrape(url)
            if families is None or "tickwork_claim_duration_seconds" not in families:
                return None
            claims = families["tickwork_claim_duration_seconds"]
            count = next(s.value for s in claims if s.name.endswith("_count"))
            return families if count > 0 else None

        # Generous: a loaded machine may take a while to start a process and migrate a store.
        families = wait_for(claimed_and_fired, timeout=90)
        processors = {
            (s.labels["role"], s.labels["state"]): s.value for s in families["tickwork_processors"]
        }
        # One process of both roles, running.
        assert processors[("scheduler", "running")] == 1
        assert processors[("worker", "running")] == 1
        (next_fire,) = families["tickwork_schedule_next_fire_timestamp_seconds"]
        assert next_fire.labels == {"task": "tick"}
        assert abs(next_fire.value - time.time()) < 60  # every second
        states = {s.labels["state"] for s in families["tickwork_queue_depth"]}
        assert states == {"scheduled", "available", "retrying", "running"}
        # OpenMetrics when asked: the strict parser wants one "# EOF", at the very end.
        om = httpx.get(
            f"{url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        names = {f.name for f in openmetrics_families(om.text)}
        assert {"tickwork_claim_duration_seconds", "tickwork_processors"} <= names

        job_id = int(cli(["enqueue", "broken"], tmp_path).stdout.strip())
        wait_for(
            lambda: cli_json(["jobs", "get", str(job_id)], tmp_path)["state"] == "failed",
            timeout=60,
        )

        def broken_counted() -> dict[str, list[Any]] | None:
            # The rollups the worker wrote as the run finished; the scrape is at most 5 s old.
            got = scrape(url)
            if got is None:
                return None
            done = [
                s.value
                for s in got["tickwork_jobs_completed"]
                if s.labels == {"task": "broken", "status": "failed"}
            ]
            return got if done == [1] else None

        counted = wait_for(broken_counted, timeout=30)
        for family in ("tickwork_job_duration_seconds", "tickwork_job_wait_seconds"):
            (count,) = [
                s.value
                for s in counted[family]
                if s.name.endswith("_count") and s.labels == {"task": "broken"}
            ]
            assert count == 1, family
    finally:
        out = stop(proc)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    for entry in lines:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert entry["time"].endswith("Z")
    (failure,) = [e for e in lines if e["level"] == "WARNING" and e.get("job_id") == job_id]
    assert failure["task"] == "broken" and failure["logger"] == "tickwork.worker"
    assert failure["attempt"] == 1 and isinstance(failure["run_id"], int)
    assert failure["processor"], failure
    assert "exit" in failure["message"] or "failed" in failure["message"]
    # Every line of the process names it (but the command's own first line, before it runs
    # one); API requests carry their request ID.
    assert all(e.get("processor") == failure["processor"] for e in lines[1:]), lines[:3]
    access = [e for e in lines if e["logger"] == "tickwork.api.access"]
    assert access and all(e.get("request_id") for e in access)


def test_a_bad_log_format_is_refused_with_its_name(tmp_path: Path) -> None:
    write_project(tmp_path)
    done = cli(["run", "--no-api", "--log-format", "xml"], tmp_path)
    assert done.returncode == 2
    assert "--log-format" in done.stderr and "'xml'" in done.stderr and "json" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli(["worker"], tmp_path, env={"TICKWORK_LOG_FORMAT": "yaml"})
    assert done.returncode == 2
    assert "TICKWORK_LOG_FORMAT" in done.stderr and "'yaml'" in done.stderr
