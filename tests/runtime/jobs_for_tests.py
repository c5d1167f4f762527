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
    # A network error: retried (a plain ValueError would be "unknown" and fail at once).
    raise ConnectionError("connection lost on purpose")


# Gates the in-process tasks ``gated`` wait for: a test opens one (adds its name) when the
# jobs may end, whatever the machine's speed.
OPEN_GATES: set[str] = set()


async def gated(gate: str) -> None:
    while gate not in OPEN_GATES:
        await asyncio.sleep(0.01)


async def sleepy(seconds: float) -> None:
    await asyncio.sleep(seconds)


def guard_skip_odd(job: object) -> object:
    from tickwork.runtime.guards import Defer, Skip

    n = job.kwargs.get("n", 0)  # type: ignore[attr-defined]
    if n == -1:
        return Defer(seconds=0.3, reason="not yet")
    return Skip(f"{n} is odd") if n % 2 else None


async def sleepy_n(seconds: float, n: int = 0) -> int:
    await asyncio.sleep(seconds)
    return n


def stubborn(seconds: float) -> None:
    """A sync task that ignores its timeout (threads cannot be interrupted)."""
    import time

    time.sleep(seconds)


class TransientError(RuntimeError):
    """A task's own error class, for retry_on / no_retry_on by base class."""


def flaky(fail_times: int, key: str) -> str:
    """Raises a plain RuntimeError the first ``fail_times`` calls for ``key``, then succeeds."""
    calls = FLAKY_CALLS[key] = FLAKY_CALLS.get(key, 0) + 1
    if calls <= fail_times:
        raise RuntimeError(f"transient thing {calls}")
    return "ok"


FLAKY_CALLS: dict[str, int] = {}


def raise_named(kind: str) -> None:
    """Raises the exception named ``kind``: value, key, transient (a TransientError)."""
    errors: dict[str, Exception] = {
        "value": ValueError("bad value"),
        "key": KeyError("missing"),
        "transient": TransientError("try later"),
    }
    raise errors[kind]


def greet(name: str, greeting: str = "hello") -> str:
    return f"{greeting}, {name}"


def send_email(to: str, subject: str, *, cc: str | None = None) -> None:
    CALLS.append(("send_email", to, subject, cc))


def alarm(job_id: int, task: str) -> None:
    CALLS.append(("alarm", job_id, task))


def log_and_fail() -> None:
    """Logs from the task's own code (in the worker's thread pool), then fails for good."""
    import logging

    logging.getLogger("tests.task").warning("working on it")
    raise ValueError("bad input")


def spin(cpu_seconds: float = 0.0) -> None:
    """Keep this thread's CPU busy for ``cpu_seconds`` of its own CPU time."""
    import time

    end = time.thread_time() + cpu_seconds
    while time.thread_time() < end:
        pass
