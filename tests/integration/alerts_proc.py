"""A tickwork process for the multi-process alert tests: ``launcher.serve`` with the scheduler
and worker roles and the ``[alerts]`` table given as JSON, whose evaluator's own tick is an
hour and which does not follow the event feed: after its first evaluation (at start) only the
store's notification (``Store.notify_alerts`` in any process) makes it evaluate.

    python tests/integration/alerts_proc.py URL '{"rules": [...], "channels": {...}}'

SIGTERM or SIGINT stops it gracefully.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from typing import Any

from tickwork import launcher
from tickwork.config import Settings
from tickwork.config.alerts import alerts_from_table

TICK_SECONDS = 3600.0


async def feed_not_followed(*_: Any) -> None:
    await asyncio.Event().wait()  # until cancelled at shutdown


def main() -> None:
    url, table = sys.argv[1], json.loads(sys.argv[2])
    plain = launcher.processor_settings

    def hourly(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(plain(*args, **kwargs), alerts_interval_seconds=TICK_SECONDS)

    launcher.processor_settings = hourly  # type: ignore[assignment]
    # Finished runs (its own deliveries too) would wake it through the feed: not here.
    launcher.wake_on_events = feed_not_followed
    settings = Settings(database_url=url, poll_interval_seconds=0.2)
    settings = dataclasses.replace(settings, alerts=alerts_from_table(table, {}))
    asyncio.run(launcher.serve(settings, [], []))


if __name__ == "__main__":
    main()
