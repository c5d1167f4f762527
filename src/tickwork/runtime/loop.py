"""A background loop's lifecycle: one named asyncio task, started once, stopped once; and the
body most of them run, a pass repeated with the store retry between failures (``repeating``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tickwork.runtime.backoff import StoreRetry


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


def repeating(
    step: Callable[[], Awaitable[float]], retry: StoreRetry
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A loop's body that runs ``step`` forever: after a success it waits the seconds ``step``
    returned (0: the next pass at once); a failure goes to ``retry``, which logs it and waits
    with backoff, and the pass runs again."""

    async def body() -> None:
        while True:
            try:
                pause = await step()
            except Exception as exc:
                await retry.failed(exc)
                continue
            retry.succeeded()
            if pause > 0:
                await asyncio.sleep(pause)

    return body
