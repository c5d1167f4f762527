"""Fixed log-spaced histogram buckets for durations and waits, shared by the rollups that store
them, the analytics that read percentiles from them and the Prometheus histograms.

Bucket ``i`` counts values ``v`` with ``BOUNDS[i - 1] < v <= BOUNDS[i]`` (bucket 0: ``v <=
BOUNDS[0]``); bucket ``OVERFLOW`` counts values above the last bound. Consecutive bounds differ
by a factor of √2, from 1 ms to about 13 hours, so a percentile read from the buckets is within
one bucket (±41 %) of the exact one, and usually far closer (values are interpolated inside
their bucket).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

_FIRST = 0.001
_STEPS = 52
BOUNDS: tuple[float, ...] = tuple(_FIRST * 2 ** (i / 2) for i in range(_STEPS))
OVERFLOW = len(BOUNDS)


def bucket_of(seconds: float) -> int:
    """The bucket a value falls in (negative values count as 0)."""
    return bisect.bisect_left(BOUNDS, max(seconds, 0.0))


def lower_bound(bucket: int) -> float:
    return 0.0 if bucket == 0 else BOUNDS[bucket - 1]


def upper_bound(bucket: int) -> float:
    return math.inf if bucket >= OVERFLOW else BOUNDS[bucket]


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q``-quantile (0..1) of the values counted in ``counts`` (bucket → count), or None
    when nothing was counted. Interpolated geometrically inside the bucket that holds it; the
    overflow bucket answers with the last bound."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1, got {q}")
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(counts):
        n = counts[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            if bucket >= OVERFLOW:
                return BOUNDS[-1]
            low, high = lower_bound(bucket), upper_bound(bucket)
            share = (rank - seen) / n
            if low == 0.0:
                return high * share
            return float(low * (high / low) ** share)
        seen += n
    return BOUNDS[-1]
