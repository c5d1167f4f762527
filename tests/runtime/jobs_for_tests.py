"""Task functions the runtime tests run for real."""

from __future__ import annotations

import asyncio
from typing import Any

CALLS: list[Any] = []


def add(a: int, b: int) -> int:
    CALLS.append(("add", a, b))
    return a + b


async def async_echo(value: Any) -> Any:
    await asyncio.sleep(0)
    CALLS.append(("echo", value))
    return value


def fail() -> None:
    raise ValueError("bad value on purpose")


async def sleepy(seconds: float) -> None:
    await asyncio.sleep(seconds)
