"""Job bodies for ``bench_alerts.py``: a task that fails (its alert is what is timed)."""

from __future__ import annotations


def fail(n: int = 0) -> None:
    raise RuntimeError(f"bench failure {n}")


def noop() -> None:
    return None
