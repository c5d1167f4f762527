"""The background loops' common body (``runtime.loop.repeating``): a pass repeated, its pause
honoured, a failure retried with the store retry and reported as degraded until a pass works."""

from __future__ import annotations

import asyncio
import logging

from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop, repeating


async def test_a_failed_pass_is_retried_and_a_pause_is_kept() -> None:
    retry = StoreRetry(logging.getLogger("tests.loop"))
    calls: list[bool] = []  # whether the store was "degraded" as each pass began
    done = asyncio.Event()

    async def step() -> float:
        calls.append(retry.degraded)
        if len(calls) == 1:
            raise ConnectionError("down")
        if len(calls) == 3:
            done.set()
            return 3600.0  # a long pause: no fourth pass while the test looks
        return 0.0  # the next pass at once

    loop = BackgroundLoop("tests-loop", repeating(step, retry))
    loop.start()
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.05)
    await loop.stop()
    # The failure made it degraded for the retried pass; the success after cleared it.
    assert calls == [False, True, False]
    assert not retry.degraded and retry.last_error is None
