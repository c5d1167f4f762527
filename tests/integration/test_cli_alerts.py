"""``tickwork alerts list | history | ack | mute | test``: real subprocesses over a real SQLite
file with a firing alert, a tickwork.toml with ``[alerts]`` whose secrets come from the
environment, and a Slack-like receiver on 127.0.0.1. No secret is ever printed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.support import cli, cli_json
from tests.runtime.receivers import closed_port, http_receiver
from tests.service.failing import fail_job
from tickwork.config import load_config
from tickwork.domain.tasks import ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.evaluator import Evaluator
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import create_store

SECRET = "sekrit-token-456"
CONFIG = """
[alerts]
channels_default = ["ops"]

[[alerts.rules]]
name = "etl-failing"
kind = "consecutive_failures"
count = 1
task = "etl"

[alerts.channels.ops]
type = "slack"
webhook_url = "${OPS_HOOK}"

[alerts.channels.down]
type = "slack"
webhook_url = "${DOWN_HOOK}"
"""


async def _firing(url: str, config: Path, env: dict[str, str]) -> None:
    store = create_store(url)
    await store.open()
    try:
        etl = TaskDefinition(name="etl", target=ShellTarget("false"))
        await Service(Context(store, resolve=None)).sync_definitions([etl], [TaskSource.CONFIG])
        await fail_job(store, "etl", "the load failed", datetime.now(UTC))
        settings = load_config(config, environ=env).settings.alerts
        await Evaluator(store, settings).evaluate()
    finally:
        await store.close()


def test_alerts_commands(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "tickwork.toml"
    config.write_text(CONFIG)
    with http_receiver("slack") as (url, slack):
        env = {
            "TICKWORK_DATABASE_URL": sqlite_url,
            "OPS_HOOK": f"{url}/services/T/B/{SECRET}",
            "DOWN_HOOK": f"http://127.0.0.1:{closed_port()}/services/{SECRET}",
            "COLUMNS": "200",
        }
        asyncio.run(_firing(sqlite_url, config, env))
        base = ["--config", str(config)]
        [rule] = cli_json(["alerts", "list", *base], tmp_path, env)
        assert [(s["subject"], s["status"]) for s in rule["states"]] == [("task:etl", "firing")]
        table = cli(["alerts", "list", *base], tmp_path, env)
        assert "etl-failing" in table.stdout and "firing" in table.stdout, table.stderr

        acked = cli(["alerts", "ack", "etl-failing", "task:etl", *base], tmp_path, env)
        assert acked.returncode == 0, acked.stderr
        assert acked.stdout == "etl-failing on task:etl: acknowledged\n"
        muted = cli_json(["alerts", "mute", "etl-failing", "--until", "2h", *base], tmp_path, env)
        assert muted["subject"] == "*" and muted["muted_until"]
        neither = cli(["alerts", "mute", "etl-failing", *base], tmp_path, env)
        assert neither.returncode == 2 and "--until" in neither.stderr
        unknown = cli(["alerts", "ack", "nope", "task:etl", *base], tmp_path, env)
        assert unknown.returncode != 0 and "nope" in unknown.stderr

        history = cli_json(["alerts", "history", "--rule", "etl-failing", *base], tmp_path, env)
        assert [h["to_status"] for h in history] == ["ok", "firing", "firing"]
        assert history[-1]["sent"] == ["firing"]

        sent = cli(["alerts", "test", "ops", *base], tmp_path, env)
        assert sent.returncode == 0 and sent.stdout == "ops (slack): test notice delivered\n"
        down = cli(["alerts", "test", "down", *base], tmp_path, env)
        assert down.returncode == 1 and "cannot connect" in down.stdout
        outputs = [table, acked, sent, down]
        assert SECRET not in "".join(p.stdout + p.stderr for p in outputs)
    assert [slack.json(i)["text"] for i in range(len(slack.requests))] == [
        "[FIRING] test on channel:ops"
    ]
