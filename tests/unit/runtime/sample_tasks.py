"""Callables that the Python executor tests run by their ``sample_tasks:name`` path."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

CANCELLED: list[str] = []
RELEASE = threading.Event()
NOT_CALLABLE = 42


def add(a: int, b: int = 0) -> int:
    return a + b


async def async_add(a: int, b: int = 0) -> int:
    await asyncio.sleep(0)
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


async def async_fail(message: str) -> None:
    await asyncio.sleep(0)
    raise RuntimeError(message)


async def sleep_until_cancelled(tag: str) -> None:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        CANCELLED.append(tag)
        raise


def block_until_released() -> str:
    RELEASE.wait(10)
    return "released"


def raise_own_timeout() -> None:
    raise TimeoutError("the task's own timeout")


def make_object() -> object:
    return object()


def make_nan() -> float:
    return float("nan")


def make_mapping() -> dict[str, Any]:
    return {"rows": 3, "names": ["a", "b"]}


def call_exit() -> None:
    sys.exit(3)


def returns_coroutine(value: int) -> Any:
    return async_add(value, 1)


class Greeter:
    @staticmethod
    def hello(name: str) -> str:
        return f"hello {name}"


class _Doubler:
    async def __call__(self, value: int) -> int:
        return value * 2


doubler = _Doubler()


def allocate(megabytes: int, seconds: float) -> int:
    """Hold ``megabytes`` of touched memory for ``seconds``; returns the size held."""
    import time

    block = b"x" * (megabytes * 1024 * 1024)
    time.sleep(seconds)
    return len(block) // (1024 * 1024)


def spin(cpu_seconds: float) -> int:
    """Keep this thread's CPU busy for ``cpu_seconds`` of its own CPU time."""
    import time

    end = time.thread_time() + cpu_seconds
    loops = 0
    while time.thread_time() < end:
        loops += 1
    return loops


async def async_spin(cpu_seconds: float) -> int:
    return spin(cpu_seconds)
