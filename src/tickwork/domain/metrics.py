"""What the metrics endpoint shows: the cluster's figures as the store answers them (one
snapshot), and bucketed durations in the fixed buckets of ``domain.histogram``.

Pure types: the store fills ``ClusterFigures``; the use case (``service.metrics``) caches and
derives from it; the REST API renders it in Prometheus's text format.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tickwork.domain.histogram import BOUNDS, OVERFLOW, bucket_of
from tickwork.domain.jobs import JobState
from tickwork.domain.queries import ProcessorInfo

# Prometheus histograms publish every second bound (1 ms, 2 ms, 4 ms … ~9.3 h): half the series,
# and still exact, since a cumulative count at a bound is the sum of the buckets up to it.
PUBLISHED_BOUND_STEP = 2


@dataclass(frozen=True)
class Buckets:
    """Values counted by bucket (``domain.histogram``: bucket index → count) and their sum."""

    counts: Mapping[int, int] = field(default_factory=dict)
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def cumulative(self, step: int = PUBLISHED_BOUND_STEP) -> Iterator[tuple[float, int]]:
        """(upper bound, values <= it) at every ``step``-th bound, in order. The values above
        the last bound given are the difference to ``count`` (Prometheus's ``+Inf``)."""
        seen = 0
        for index in range(len(BOUNDS)):
            seen += self.counts.get(index, 0)
            if index % step == 0:
                yield BOUNDS[index], seen


class DurationRecorder:
    """A process's own durations (e.g. its worker's claims), counted into the same buckets:
    a dict update per value, so the hot path pays nothing more, and no metrics library is
    loaded where nothing serves them."""

    def __init__(self) -> None:
        self._counts = [0] * (OVERFLOW + 1)
        self._total = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bucket_of(seconds)] += 1
        self._total += max(seconds, 0.0)

    def snapshot(self) -> Buckets:
        return Buckets({i: n for i, n in enumerate(self._counts) if n}, self._total)


@dataclass(frozen=True)
class ClusterFigures:
    """The cluster's figures at ``taken_at``, read together from the store.

    ``completed``: lifetime runs by (task, status), ``durations`` their run times (statuses that
    ran the task's work: succeeded, failed, timeout, cancelled), ``waits`` the time from due to
    start, all from the lifetime rollups. ``queue``: jobs by active state (scheduled, available,
    retrying, running). ``oldest_due_at``: the earliest due time of pending jobs due by
    ``taken_at``. ``last_success``: the finish of each defined task's latest successful run;
    ``next_fire``: the next fire of each enabled schedule. ``missed_fires``: fires that did not
    become runs, by (task, reason).
    """

    taken_at: datetime
    completed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    durations: Mapping[str, Buckets] = field(default_factory=dict)
    waits: Mapping[str, Buckets] = field(default_factory=dict)
    queue: Mapping[JobState, int] = field(default_factory=dict)
    oldest_due_at: datetime | None = None
    last_success: Mapping[str, datetime] = field(default_factory=dict)
    next_fire: Mapping[str, datetime] = field(default_factory=dict)
    missed_fires: Mapping[tuple[str, str], int] = field(default_factory=dict)
    processors: Sequence[ProcessorInfo] = ()
