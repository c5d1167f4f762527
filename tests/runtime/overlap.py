"""How many runs were going at once: the measure behind every concurrency test."""

from __future__ import annotations

from datetime import datetime

from tickwork.domain.jobs import Run


def max_overlap(runs: list[Run]) -> int:
    """The largest number of ``runs`` that were running at the same instant."""
    events: list[tuple[datetime, int]] = []
    for r in runs:
        events += [(r.started_at, 1), (r.finished_at, -1)]
    depth = peak = 0
    # An end and a start at the same instant do not overlap: ends (-1) sort first.
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        depth += step
        peak = max(peak, depth)
    return peak
