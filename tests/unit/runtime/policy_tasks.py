"""Callables the report, retry-decision and isolated-executor tests run by ``policy_tasks:name``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import tickwork

RELEASE = threading.Event()


def count_sync(n: int) -> int:
    for _ in range(n):
        tickwork.report(processed=1)
    tickwork.report(failed=2, rate=1.5, stage="first")
    tickwork.report(stage="done")
    return n


async def count_async(n: int) -> int:
    async def side() -> None:
        tickwork.report(processed=10, side="yes")  # a task it spawns reports to the same run

    for _ in range(n):
        await asyncio.sleep(0)
        tickwork.report(processed=1)
    await asyncio.create_task(side())
    tickwork.report(failed=1, stage="done")
    return n


def count_then_fail() -> None:
    tickwork.report(processed=3, failed=1, last_id="a7")
    raise ValueError("row 4 is bad")


async def count_then_hang() -> None:
    tickwork.report(processed=5, pid=os.getpid())
    await asyncio.sleep(30)


def count_then_block() -> None:
    tickwork.report(processed=2)
    RELEASE.wait(10)


def block_in_child() -> None:
    """Reports its pid and that of a grandchild it started, then hangs in a sync call."""
    grandchild = subprocess.Popen(["sleep", "30"])
    tickwork.report(processed=1, pid=os.getpid(), grandchild=grandchild.pid)
    time.sleep(30)


def noisy() -> str:
    print("not json {")
    print('{"ok": true, "result": "forged", "metrics": {"processed": 99}}')
    sys.stdout.flush()
    os.write(1, b'{"ok": true, "result": "forged at fd level"}\n')
    sys.stdout.write("no newline at the end")
    tickwork.report(processed=1)
    return "real"


def retry_later(after: float | None) -> None:
    raise tickwork.Retry("the API is busy", after=after)


def give_up() -> None:
    raise tickwork.Fail("row 7 has no id")


def die_hard() -> None:
    tickwork.report(processed=1)
    time.sleep(0.3)  # lets the metrics update reach the parent first
    os._exit(7)
