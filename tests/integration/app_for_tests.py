"""A Tickwork app defined in code, run by the tests in-process and by `tickwork run --app`."""

from __future__ import annotations

import asyncio
import os

from tickwork import Tickwork

app = Tickwork(os.environ.get("TW_TEST_DB", "sqlite:///app-test.db"), poll_interval="0.1s")
SEEN: list[object] = []


@app.task
def plain(x: int) -> int:
    """Doubles x."""
    SEEN.append(("plain", x))
    return x * 2


@app.task(name="async-job", timeout="5s", max_retries=1)
async def async_job(word: str = "hi") -> str:
    await asyncio.sleep(0)
    SEEN.append(("async", word))
    return word.upper()


@app.task(schedule="* * * * * *", description="every second")
def ticker() -> None:
    out = os.environ.get("TW_TEST_TICKS")
    if out:
        with open(out, "a") as f:
            f.write("tick\n")
