"""Tasks that tell how far they are (tickwork.progress, tickwork.event), for the activity tests;
importable by isolated children too."""

from __future__ import annotations

import asyncio

import tickwork


def sync_sync(n: int) -> int:
    for i in range(1, n + 1):
        tickwork.progress(i, n)
    tickwork.event("synced repositories", processed=n, failed=2)
    return n


async def async_sync(n: int) -> int:
    tickwork.event("starting", batch="a")
    for i in range(1, n + 1):
        tickwork.progress(i, n)
        await asyncio.sleep(0)
    tickwork.event("done", processed=n)
    return n


def chatty(events: int) -> None:
    for i in range(events):
        tickwork.event(f"event {i}", i=i)


def oversized() -> None:
    tickwork.event("x" * 5000, blob="y" * 5000)
    tickwork.event("small", nested={"a": [1, 2, float("nan")]})


def progress_storm(n: int) -> None:
    for i in range(1, n + 1):
        tickwork.progress(i, n)


async def slow_progress(steps: int, pause: float) -> None:
    for i in range(1, steps + 1):
        tickwork.progress(i, steps)
        await asyncio.sleep(pause)


def bad_progress() -> None:
    tickwork.progress(-1)


def silent() -> int:
    return 1
