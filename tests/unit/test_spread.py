"""The spread offsets: fixed per name, within their window, spread over it."""

from __future__ import annotations

from collections import Counter

from tickwork.domain.spread import MAX_SPREAD_SECONDS, spread_offset, spread_window


def test_window_is_a_quarter_of_the_interval_at_most_five_minutes() -> None:
    assert spread_window(1) == 0
    assert spread_window(60) == 15
    assert spread_window(3600) == MAX_SPREAD_SECONDS
    assert spread_window(0) == 0


def test_offset_is_stable_and_within_the_window() -> None:
    # A value computed once: the offset must never change between releases or processes.
    assert spread_offset("nightly-export", 3600) == 268
    assert spread_offset("nightly-export", 1) == 0
    offsets = [spread_offset(f"job-{i}", 3600) for i in range(3000)]
    assert min(offsets) >= 0 and max(offsets) < MAX_SPREAD_SECONDS


def test_offsets_spread_evenly() -> None:
    # 3,000 names over 15 seconds: each second gets about 200; none is left empty or crowded.
    counts = Counter(spread_offset(f"job-{i}", 60) for i in range(3000))
    assert set(counts) == set(range(15))
    assert max(counts.values()) < 2 * min(counts.values())
