"""The reaper: returns jobs whose lease expired (their worker died) to the queue, or fails them."""

from __future__ import annotations

import logging

from tickwork.clock import Clock, SystemClock
from tickwork.domain.jobs import JobState
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop, repeating
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.reaper")

LEASE_EXPIRED_REASON = "lease expired: the worker running this job stopped heartbeating (crash?)"


class Reaper:
    def __init__(
        self,
        store: RuntimeStore,
        interval_seconds: float,
        *,
        clock: Clock | None = None,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> None:
        self.store = store
        self.max_interruptions = max_interruptions
        self.interval_seconds = interval_seconds
        self.clock = clock or SystemClock()
        self.retry = StoreRetry(log)
        self._loop = BackgroundLoop("tickwork-reaper", repeating(self._pass, self.retry))

    async def run_once(self) -> int:
        recovered = await self.store.recover_expired(
            self.clock.now(), LEASE_EXPIRED_REASON, max_interruptions=self.max_interruptions
        )
        for job in recovered:
            log.warning(
                "job %s (%s) recovered after its lease expired: now %s%s",
                job.id,
                job.task_name,
                job.state.value,
                f" ({job.last_error})" if job.state is JobState.FAILED else "",
            )
        return len(recovered)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> float:
        await self.run_once()
        return self.interval_seconds
