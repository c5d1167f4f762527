"""A process (``launcher.serve``) with ``[[checks]]``, a ``check_down`` rule and the API: the
configuration's check is synced, a job pings it over HTTP by ping key and slug, and a failure
ping wakes the evaluator, so the alert reaches a real receiver without waiting for a tick; the
next success sends the recovery."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx

from tests.api.conftest import TEST_SETTINGS
from tests.runtime.receivers import http_receiver
from tickwork.api.server import ApiServer
from tickwork.config import Settings
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.checks import CheckSpec
from tickwork.launcher import serve
from tickwork.runtime.processor import Processor
from tickwork.service.facade import Service

KEY = "ping-key-0123456789"


async def test_a_failure_ping_alerts_at_once_and_a_success_recovers(sqlite_url: str) -> None:
    with http_receiver("slack") as (url, slack):
        alerts = alerts_from_table(
            {
                "rules": [{"name": "down", "kind": "check_down", "check": "nightly"}],
                "channels_default": ["ops"],
                "channels": {"ops": {"type": "slack", "webhook_url": f"{url}/services/T/B/x"}},
            },
            {},
        )
        settings = dataclasses.replace(
            Settings(database_url=sqlite_url, poll_interval_seconds=0.2), alerts=alerts
        )
        api = dataclasses.replace(TEST_SETTINGS, ping_key=KEY)
        stop = asyncio.Event()
        started: list[tuple[Processor, Service]] = []
        servers: list[ApiServer] = []
        serving = asyncio.create_task(
            serve(
                settings,
                [],
                [],
                stop=stop,
                on_started=lambda p, s: started.append((p, s)),
                api=api,
                on_api_started=servers.append,
                checks=[CheckSpec("nightly", cron="0 3 * * *", grace_seconds=3600)],
            )
        )
        try:
            # Under the evaluator's tick (15 s): only the ping's wake-up can make it.
            async with asyncio.timeout(12):
                while not (started and servers):
                    await asyncio.sleep(0.05)
                _, service = started[0]
                synced = await service.checks.get("nightly")
                assert synced.check.source.value == "config"
                async with httpx.AsyncClient(base_url=servers[0].url) as client:
                    assert (await client.get(f"/ping/{KEY}/nightly")).text == "OK"
                    failed = await client.post(f"/ping/{KEY}/nightly/1", content=b"exit 1")
                    assert failed.status_code == 200
                    while not slack.requests:
                        await asyncio.sleep(0.05)
                    assert (await client.get(f"/ping/{KEY}/nightly/0")).text == "OK"
                    while len(slack.requests) < 2:
                        await asyncio.sleep(0.05)
        finally:
            stop.set()
            await serving
    titles = [slack.json(i)["text"] for i in range(len(slack.requests))]
    assert titles[0] == "[FIRING] down on check:nightly"
    assert titles[1].startswith("[RESOLVED] down on check:nightly")
