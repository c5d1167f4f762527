"""Small helpers for executors that run child processes in their own process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
