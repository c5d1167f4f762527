"""Retrying store calls with capped exponential backoff while the database is unreachable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

STORE_RETRY_BASE_SECONDS = 0.1
STORE_RETRY_CAP_SECONDS = 5.0


class StoreRetry:
    """Tracks consecutive store failures of one loop and sleeps longer after each.

    ``degraded`` while the last store call failed (``Processor.health`` reports it).
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self.failures = 0
        self.last_error: str | None = None

    @property
    def degraded(self) -> bool:
        return self.failures > 0

    async def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        delay = min(STORE_RETRY_BASE_SECONDS * 2 ** (self.failures - 1), STORE_RETRY_CAP_SECONDS)
        if self.failures == 1 or self.failures % 10 == 0:
            self._log.warning(
                "store unreachable (%s, %d failure(s)); retrying in %.1fs",
                self.last_error,
                self.failures,
                delay,
            )
        await asyncio.sleep(delay)

    def succeeded(self) -> None:
        if self.failures:
            self._log.info("store reachable again after %d failure(s)", self.failures)
        self.failures = 0
        self.last_error = None

    async def call(self, fn: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
        """``fn()`` retried until it succeeds, at most ``attempts`` times."""
        while True:
            try:
                result = await fn()
            except Exception as exc:
                if self.failures + 1 >= attempts:
                    raise
                await self.failed(exc)
                continue
            self.succeeded()
            return result
