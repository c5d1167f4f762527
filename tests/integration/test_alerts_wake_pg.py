"""Two processes on one PostgreSQL database: a ping recorded in one (here, the test's) wakes
the alert evaluator of the other (``alerts_proc.py``, whose own tick is an hour) through the
store's LISTEN/NOTIFY, so a check's recovery and its next failure reach the receiver without
waiting for a tick. Without that wake-up the notices would not come within the deadlines."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.receivers import Received, http_receiver
from tickwork.service.checks import Checks, PingRequest
from tickwork.service.context import Context
from tickwork.store import create_store

pytestmark = pytest.mark.postgres

PROC = Path(__file__).resolve().parent / "alerts_proc.py"
ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # generous: the machine may be loaded; a tick would come after an hour


async def notices(received: Received, n: int, proc: subprocess.Popen[bytes]) -> list[str]:
    async with asyncio.timeout(DEADLINE):
        while len(received.requests) < n:
            assert proc.poll() is None, "the evaluating process exited"
            await asyncio.sleep(0.05)
    return [received.json(i)["text"] for i in range(len(received.requests))]


async def test_a_ping_in_one_process_wakes_the_evaluator_of_another(
    pg_url: str, tmp_path: Path
) -> None:
    store = create_store(pg_url)
    await store.open()
    checks = Checks(Context(store))
    await checks.create({"name": "nightly", "period": "1h", "grace": "1h"})
    await checks.ping(PingRequest("fail"), name="nightly")  # down before the process starts
    with http_receiver("slack") as (url, slack):
        table = {
            "rules": [{"name": "down", "kind": "check_down", "check": "nightly"}],
            "channels_default": ["ops"],
            "channels": {"ops": {"type": "slack", "webhook_url": f"{url}/services/T/B/x"}},
        }
        log = (tmp_path / "proc.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(PROC), pg_url, json.dumps(table)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # Its first evaluation, at start, finds the check down.
            assert await notices(slack, 1, proc) == ["[FIRING] down on check:nightly"]
            await checks.ping(PingRequest(None), name="nightly")
            titles = await notices(slack, 2, proc)
            assert titles[1].startswith("[RESOLVED] down on check:nightly")
            await checks.ping(PingRequest("fail"), name="nightly")
            titles = await notices(slack, 3, proc)
            assert titles[2] == "[FIRING] down on check:nightly"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            await store.close()
    assert proc.returncode == 0, (tmp_path / "proc.log").read_text()[-2000:]
