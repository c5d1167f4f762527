"""``tickwork failures`` (and ``retry``, ``discard``): real subprocesses on a real SQLite file
whose failed jobs are written through the store as a worker writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import cli, cli_json
from tests.service.failing import fail_job
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store


@pytest.fixture
async def filled(sqlite_url: str) -> dict[str, Any]:
    # Now, not at import: under xdist a module's tests may run minutes after it was collected,
    # and the test reads a window of the last 10 minutes.
    now = datetime.now(UTC).replace(microsecond=0)
    store = create_store(sqlite_url)
    await store.open()
    try:
        defs = [TaskDefinition(name=n, target=ShellTarget("true")) for n in ("sync", "mail")]
        await Service(Context(store, resolve=None)).sync_definitions(defs, [TaskSource.CONFIG])
        for i, task in enumerate(("sync", "mail", "sync")):
            await fail_job(store, task, f"repo {i} gone", now - timedelta(minutes=30 - i))
        await fail_job(store, "mail", "smtp down", now - timedelta(minutes=5), error_type="OSError")
    finally:
        await store.close()
    return {"TICKWORK_DATABASE_URL": sqlite_url}


def test_failures_json_and_table(filled: dict[str, Any], tmp_path: Path) -> None:
    out = cli_json(["failures", "--json"], tmp_path, filled)
    assert set(out) == {"start", "end", "task", "read", "limit", "capped", "groups"}
    assert [(g["error_type"], g["count"], g["tasks"]) for g in out["groups"]] == [
        ("OSError", 1, {"mail": 1}),
        ("ValueError", 3, {"sync": 2, "mail": 1}),
    ]
    group = out["groups"][1]
    assert group["message"] == "repo <n> gone" and group["last_seen"].endswith("+00:00")
    assert len(group["samples"]) == 3 and group["samples"][0]["run_id"] is not None
    one = cli_json(["failures", "--task", "mail", "--since", "10m", "--json"], tmp_path, filled)
    assert [g["error_type"] for g in one["groups"]] == ["OSError"]
    table = cli(["failures"], tmp_path, {**filled, "COLUMNS": "160"})
    assert table.returncode == 0, table.stderr
    assert group["fingerprint"][:12] in table.stdout and "sync=2 mail=1" in table.stdout


def test_failures_retry_and_discard(filled: dict[str, Any], tmp_path: Path) -> None:
    groups = cli_json(["failures", "--json"], tmp_path, filled)["groups"]
    os_error, value_error = (g["fingerprint"] for g in groups)
    retried = cli_json(["failures", "retry", value_error[:12], "--json"], tmp_path, filled)
    assert retried == {"fingerprint": value_error[:12], "action": "retry", "jobs": 3}
    discarded = cli(["failures", "discard", os_error], tmp_path, filled)
    assert discarded.returncode == 0, discarded.stderr
    assert discarded.stdout == "discarded 1 failed job(s)\n"
    empty = cli(["failures"], tmp_path, filled)
    assert empty.stdout == "no failures since 7d\n"
    queued = cli_json(["jobs", "queue", "--json"], tmp_path, filled)
    assert sorted(j["task"] for j in queued if j["state"] == "available") == [
        "mail",
        "sync",
        "sync",
    ]
    audit = cli_json(["audit", "--json"], tmp_path, filled)
    assert {"failure.retry", "failure.discard"} <= {e["action"] for e in audit}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["failures", "--since", "a week"], "since"),
        (["failures", "retry", "xyz"], "fingerprint"),
        (["failures", "discard", "0" * 64], "no failures"),
    ],
)
def test_failures_bad_input(
    filled: dict[str, Any], tmp_path: Path, args: list[str], named: str
) -> None:
    done = cli(args, tmp_path, filled)
    assert done.returncode != 0
    assert named in done.stderr and "Traceback" not in done.stderr
