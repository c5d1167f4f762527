"""The metrics endpoint's figures (D12): one snapshot of the cluster read from the store, kept
for a few seconds per process, and what is derived from it (processors by role and state, the
age of the oldest due job).

The figures come from the store, not from counters kept in the process, so every API process
of a store serves the same numbers; the cache bounds what many scrapers cost the store. The
one process-local figure, the durations of this process's worker's claims, is handed in by the
composition root (``claim_durations``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from tickwork.domain.metrics import Buckets, ClusterFigures, DurationRecorder
from tickwork.domain.processors import (
    LOST,
    ROLES,
    RUNNING,
    STOPPED,
    lost_after_seconds,
    processor_state,
)
from tickwork.service.context import Context

# Scrapes within this many seconds of a snapshot get that snapshot.
SNAPSHOT_SECONDS = 5.0
PROCESSOR_STATES = (RUNNING, LOST, STOPPED)


@dataclass(frozen=True)
class MetricsSnapshot:
    """What ``/metrics`` shows. ``processors``: (role, state) → processes, every pair present;
    a process of both roles counts under each. ``oldest_due_age_seconds``: how long the
    earliest due pending job has been due (0 when none is). ``claim_durations``: this
    process's worker's claims (None without a worker in the process)."""

    figures: ClusterFigures
    processors: Mapping[tuple[str, str], int]
    oldest_due_age_seconds: float
    claim_durations: Buckets | None = None


@dataclass
class Metrics:
    """The metrics use case of one process (its cache is the process's)."""

    ctx: Context
    claim_durations: DurationRecorder | None = None
    max_age_seconds: float = SNAPSHOT_SECONDS
    _cached: ClusterFigures | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def snapshot(self) -> MetricsSnapshot:
        """The cluster's figures, read again once the last read is ``max_age_seconds`` old
        (by the context's clock); concurrent scrapes share one read."""
        figures = self._fresh()
        if figures is None:
            async with self._lock:
                figures = self._fresh()
                if figures is None:
                    figures = await self.ctx.store.cluster_figures(self.ctx.clock.now())
                    self._cached = figures
        return MetricsSnapshot(
            figures=figures,
            processors=self._processors(figures),
            oldest_due_age_seconds=_age(figures),
            claim_durations=(
                None if self.claim_durations is None else self.claim_durations.snapshot()
            ),
        )

    def _fresh(self) -> ClusterFigures | None:
        cached = self._cached
        if cached is None:
            return None
        age = (self.ctx.clock.now() - cached.taken_at).total_seconds()
        # A clock that went back is no reason to trust the cache.
        return cached if 0 <= age < self.max_age_seconds else None

    def _processors(self, figures: ClusterFigures) -> dict[tuple[str, str], int]:
        counts = {(role, state): 0 for role in sorted(ROLES) for state in PROCESSOR_STATES}
        lost_after = lost_after_seconds(self.ctx.heartbeat_interval_seconds)
        for info in figures.processors:
            state = processor_state(info, figures.taken_at, lost_after)
            for role in info.role.split("+"):
                if (role, state) in counts:
                    counts[(role, state)] += 1
        return counts


def _age(figures: ClusterFigures) -> float:
    if figures.oldest_due_at is None:
        return 0.0
    return max((figures.taken_at - figures.oldest_due_at).total_seconds(), 0.0)
