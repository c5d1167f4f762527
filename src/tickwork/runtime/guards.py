"""Pre-run guards (B8): a task's ``guard`` decides, just before each run, to run, skip or defer.

A guard is a function ``guard(job: JobContext)`` (sync or async) returning ``None``/``True`` to
run, ``Skip(reason)`` (or ``False``) to record the job as skipped, or ``Defer(...)`` to put it
back until later without spending an attempt.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tickwork.domain.jobs import Job


@dataclass(frozen=True)
class JobContext:
    """What a guard sees of the job about to run."""

    id: int
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    key: str | None
    attempt: int
    scheduled_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobContext:
        return cls(
            job.id, job.task_name, job.args, job.kwargs, job.key, job.attempt, job.scheduled_at
        )


@dataclass(frozen=True)
class Skip:
    reason: str = "skipped by its guard"


@dataclass(frozen=True)
class Defer:
    """Run later: at ``until``, or after ``seconds``."""

    seconds: float | None = None
    until: datetime | None = None
    reason: str = field(default="deferred by its guard")

    def when(self, now: datetime) -> datetime:
        if self.until is not None:
            return self.until
        return now + timedelta(seconds=self.seconds or 0.0)


Decision = Skip | Defer | None


async def consult(guard: Callable[..., Any], job: Job) -> Decision:
    """Call ``guard`` for ``job`` and normalise its answer."""
    context = JobContext.of(job)
    if inspect.iscoroutinefunction(guard):
        answer = await guard(context)
    else:
        answer = await asyncio.to_thread(guard, context)
    if answer is None or answer is True:
        return None
    if answer is False:
        return Skip()
    if isinstance(answer, Skip | Defer):
        return answer
    raise TypeError(f"a guard must return None, True, False, Skip or Defer, not {answer!r}")
