"""A background loop's lifecycle: one named asyncio task, started once, stopped once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """Runs ``body`` as one asyncio task named ``name`` until stopped.

    The components of a process (scheduler, reaper, heartbeat) hold one each: starting twice
    starts one task, stopping twice (or before starting) is a no-op, and a stop waits until
    the task has really ended, so nothing of it runs after ``stop`` returns.
    """

    def __init__(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._body = body
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> bool:
        """Start the task unless it runs; True if this call started it."""
        if self._task is not None:
            return False
        self._task = asyncio.create_task(self._body(), name=self.name)
        return True

    async def stop(self) -> bool:
        """Cancel the task and wait for its end; True if it was running."""
        task, self._task = self._task, None
        if task is None:
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True
