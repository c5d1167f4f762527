"""``--cpus``: the CPU lists a person may write, and the errors that name what is wrong."""

from __future__ import annotations

import pytest

from tickwork.affinity import parse_cpus
from tickwork.errors import ConfigError

ALLOWED = frozenset(range(8))


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("1", {1}), ("0,2", {0, 2}), ("0-3", {0, 1, 2, 3}), (" 0 , 2-3 ", {0, 2, 3}), ("5-5", {5})],
)
def test_lists_and_ranges(text: str, cpus: set[int]) -> None:
    assert parse_cpus(text, ALLOWED) == cpus


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("x", "'x' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"),
        ("1,", "'' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"),
        ("3-1", "'3-1' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"),
        ("-1", "'-1' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"),
        ("1-2-3", "'1-2-3' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"),
        ("7-9", "CPU 8,9 is not available to this process (it may use 0,1,2,3,4,5,6,7)"),
    ],
)
def test_bad_lists_name_the_part_at_fault(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cpus(text, ALLOWED)
    assert str(caught.value) == f"--cpus: {named}"
