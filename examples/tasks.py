"""Small example task functions referenced by ``examples/tickwork.toml``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime

logger = logging.getLogger(__name__)


def heartbeat(greeting: str = "hello") -> dict[str, object]:
    """A synchronous task: says ``greeting`` and reports where and when it ran."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    line = f"{greeting} from {socket.gethostname()} (pid {os.getpid()}) at {now}"
    logger.info("heartbeat: %s", line)
    print(line, flush=True)
    return {"greeting": greeting, "pid": os.getpid(), "at": now}


async def send_report(recipient: str, period: str = "daily") -> dict[str, object]:
    """An asynchronous task: pretends to build and send a report (nothing leaves the machine)."""
    await asyncio.sleep(0.1)  # stands in for real I/O, so the task actually awaits something
    logger.info("report: %s report sent to %s", period, recipient)
    print(f"{period} report sent to {recipient}", flush=True)
    return {"recipient": recipient, "period": period, "sent": True}
