"""The pruner: removes what retention lets go, in batches of at most ``batch_size`` rows (one
short transaction each) with a pause between them, so workers keep claiming meanwhile.

A worker process runs it every ``[retention] interval``; ``tickwork prune`` and
``POST /api/prune`` run one pass on demand (``service.retention``). On PostgreSQL one process
prunes at a time: the others skip the pass (``Store.lock_pruning``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tickwork.clock import Clock, SystemClock
from tickwork.domain.retention import MIN_PRUNE_BATCH_SIZE, PruneReport, RetentionPolicy
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop, repeating
from tickwork.store.observing import Pruning

log = logging.getLogger("tickwork.pruner")

# The first pass of a process comes this soon after its start at most: processes restarted more
# often than the interval still prune.
FIRST_PASS_MAX_DELAY_SECONDS = 60.0


class Pruner:
    """One pass on demand (``prune``), or every ``policy.interval_seconds`` (``start``)."""

    def __init__(
        self,
        store: Pruning,
        policy: RetentionPolicy,
        *,
        clock: Clock | None = None,
        on_pruned: Callable[[PruneReport], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock or SystemClock()
        # Called after a pass that removed something (the launcher audits it).
        self.on_pruned = on_pruned
        self.retry = StoreRetry(log)
        self._loop = BackgroundLoop("tickwork-pruner", self._run)
        self._passes = repeating(self._pass, self.retry)

    async def prune(self, *, dry_run: bool = False) -> PruneReport:
        """One pass: every step's rows in batches (a dry run counts them and removes nothing).
        A report with ``skipped`` when another pass holds the lock."""
        lock = await self.store.lock_pruning()
        if lock is None:
            log.info("prune skipped: another process is pruning")
            return PruneReport(counts={}, dry_run=dry_run, skipped=True)
        started = time.monotonic()
        counts: dict[str, int] = {}
        batches = 0
        size = self.policy.batch_size
        try:
            targets = await self.store.prune_targets(self.policy, self.clock.now())
            for target in targets:
                counts.setdefault(target.kind, 0)
                if dry_run:
                    _add(counts, await self.store.count_prunable(target))
                    continue
                while True:
                    began = time.monotonic()
                    removed = await self.store.prune_batch(target, size)
                    took = time.monotonic() - began
                    batches += 1
                    _add(counts, removed)
                    done = removed.get(target.kind, 0) < size
                    if any(removed.values()):  # a write went through: the workers' turn
                        await asyncio.sleep(self.policy.pause_seconds)
                    if done:
                        break
                    size = self._next_size(size, took)
        finally:
            await lock.release()
        report = PruneReport(
            counts=counts, dry_run=dry_run, batches=batches, seconds=time.monotonic() - started
        )
        if dry_run:
            log.info("prune (dry run) would remove: %s", report.summary())
        else:
            # INFO when something went; a pass that found nothing is no news.
            level = logging.INFO if report.total else logging.DEBUG
            log.log(
                level, "pruned %s in %d batch(es), %.1fs", report.summary(), batches, report.seconds
            )
            if report.total and self.on_pruned is not None:
                await self.on_pruned(report)
        return report

    def _next_size(self, size: int, took: float) -> int:
        """On SQLite, where a batch holds the one write lock (a worker's claim waits for it),
        batches kept near ``policy.batch_seconds``: halved when slower, doubled (up to
        ``batch_size``) when much quicker. PostgreSQL's batches lock only the rows they
        delete, so they keep ``batch_size``."""
        target = self.policy.batch_seconds
        if target <= 0 or self.store.dialect != "sqlite":
            return size
        if took > target:
            return max(min(MIN_PRUNE_BATCH_SIZE, self.policy.batch_size), size // 2)
        if took < target / 2:
            return min(self.policy.batch_size, size * 2)
        return size

    async def start(self) -> None:
        if self.policy.interval_seconds > 0:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        await asyncio.sleep(min(self.policy.interval_seconds, FIRST_PASS_MAX_DELAY_SECONDS))
        await self._passes()

    async def _pass(self) -> float:
        await self.prune()
        return self.policy.interval_seconds


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for kind, n in more.items():
        counts[kind] = counts.get(kind, 0) + n
