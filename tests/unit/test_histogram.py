"""The fixed log-spaced buckets: placement and percentiles against exact figures."""

from __future__ import annotations

import random
import statistics

import pytest

from tickwork.domain import histogram as h


def test_a_value_on_a_bound_belongs_to_that_bucket() -> None:
    assert h.bucket_of(0.0) == 0
    assert h.bucket_of(-1.0) == 0
    assert h.bucket_of(h.BOUNDS[0]) == 0
    assert h.bucket_of(h.BOUNDS[3]) == 3
    assert h.bucket_of(h.BOUNDS[3] * 1.0001) == 4
    assert h.bucket_of(10 * h.BOUNDS[-1]) == h.OVERFLOW


def test_bounds_grow_by_the_square_root_of_two() -> None:
    ratios = {round(b / a, 9) for a, b in zip(h.BOUNDS, h.BOUNDS[1:], strict=False)}
    assert ratios == {round(2**0.5, 9)}


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantiles_are_within_one_bucket_of_the_exact_figure(q: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 1.5) for _ in range(5000)]
    counts: dict[int, int] = {}
    for v in values:
        counts[h.bucket_of(v)] = counts.get(h.bucket_of(v), 0) + 1
    exact = statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]
    estimate = h.quantile(counts, q)
    assert estimate is not None
    assert exact / 2**0.5 <= estimate <= exact * 2**0.5


def test_quantile_of_nothing_is_none_and_bad_q_is_refused() -> None:
    assert h.quantile({}, 0.5) is None
    with pytest.raises(ValueError, match="between 0 and 1"):
        h.quantile({1: 1}, 1.5)
