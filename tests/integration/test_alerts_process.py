"""A process with ``[alerts]`` (``launcher.serve``): its scheduler role evaluates, woken by the
event feed when a run finishes; the built-in ``tickwork.notify`` is synced and its worker
delivers to a real receiver; a failing run's alert arrives without waiting for a tick."""

from __future__ import annotations

import asyncio
import dataclasses

from tests.runtime.alert_support import python_task
from tests.runtime.receivers import http_receiver
from tickwork.config import Settings
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.jobs import JobState
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import TaskSource
from tickwork.launcher import serve
from tickwork.runtime.notify.delivery import NOTIFY_TASK
from tickwork.runtime.processor import Processor
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest


async def test_a_process_alerts_when_a_run_fails(sqlite_url: str) -> None:
    with http_receiver("slack") as (url, slack):
        alerts = alerts_from_table(
            {
                "rules": [{"name": "etl-failing", "kind": "consecutive_failures", "count": 1}],
                "channels_default": ["ops"],
                "channels": {"ops": {"type": "slack", "webhook_url": f"{url}/services/T/B/x"}},
            },
            {},
        )
        settings = dataclasses.replace(
            Settings(database_url=sqlite_url, poll_interval_seconds=0.2), alerts=alerts
        )
        stop = asyncio.Event()
        started: list[tuple[Processor, Service]] = []
        serving = asyncio.create_task(
            serve(
                settings,
                [python_task("etl")],
                [TaskSource.CODE],
                stop=stop,
                on_started=lambda p, s: started.append((p, s)),
            )
        )
        try:
            # Under the evaluator's first tick (15 s): only the feed's wake-up can make it.
            async with asyncio.timeout(12):
                while not started:
                    await asyncio.sleep(0.05)
                processor, service = started[0]
                assert processor.evaluator is not None and processor.deliverer is not None
                notify = await service.get_task(NOTIFY_TASK)
                assert notify.definition.source is TaskSource.BUILTIN
                await service.enqueue(EnqueueRequest("etl", kwargs={"fail": True}))
                while not slack.requests:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await serving
    assert slack.json(0)["text"] == "[FIRING] etl-failing on task:etl"
    # The delivery is a job like any other, with its run in the history.
    store_jobs = await service.query_jobs(JobQuery(task_name=NOTIFY_TASK))
    assert [j.state for j in store_jobs] == [JobState.SUCCEEDED]
