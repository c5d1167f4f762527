"""Spreading schedules that fire on the same second: a fixed offset per job from its name.

Many schedules written by hand fire at the top of a minute or an hour, so every one of them
starts in the same second. Like Jenkins' ``H``, tickwork moves each such job by an offset drawn
from a hash of its name: the same name always gets the same offset (across restarts, processes
and hosts, never random), and different names spread evenly over the window.

The window is a quarter of the schedule's interval, at most five minutes, so an hourly job moves
by up to 5 minutes, an every-minute job by up to 15 seconds and a per-second job not at all.
Auto-rescheduling (the ``spread`` rule) applies it; the load preview proposes it.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_SPREAD_SECONDS", "spread_offset", "spread_window"]

# The largest offset a job is moved by, whatever its interval.
MAX_SPREAD_SECONDS = 300
# The share of the interval a job may be moved within.
SPREAD_SHARE = 4


def spread_window(interval_seconds: float) -> int:
    """How many whole seconds a schedule of this interval may be moved by (0: not at all)."""
    if interval_seconds <= 0:
        return 0
    return min(MAX_SPREAD_SECONDS, int(interval_seconds // SPREAD_SHARE))


def spread_offset(name: str, interval_seconds: float) -> int:
    """The offset in whole seconds, in ``[0, spread_window(interval))``, for the job ``name``.

    Taken from SHA-256 (not Python's ``hash``, which changes per process), so every process and
    every release computes the same offset for the same name.
    """
    window = spread_window(interval_seconds)
    if window <= 1:
        return 0
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % window
