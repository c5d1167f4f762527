"""The queue over the API: enqueue, cancel and reschedule bodies; a job with its runs, hold and
current progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tickwork.api.schemas.common import StrictIn
from tickwork.domain.admission import Hold
from tickwork.wire import QueueJobOut, RunEventOut, RunOut

# Seconds, or a duration such as "5m".
Duration = float | str


class EnqueueIn(StrictIn):
    task: str = Field(description="A defined job's name.", min_length=1, max_length=200)
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    at: datetime | None = Field(None, description="When to run (with a UTC offset).")
    delay: Duration | None = Field(None, description="Seconds or e.g. '5m' from now.")
    key: str | None = Field(None, max_length=200)
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    unique_key: str | None = Field(None, max_length=200)
    unique_for: Duration | None = Field(None, description="Also dedupe against finished jobs.")
    deadline: Duration | None = Field(
        None, description="A duration after the job's time (e.g. '30m'), or a time."
    )
    on_deadline: str | None = Field(None, description="The job to run if the deadline passes.")


class RescheduleIn(StrictIn):
    at: datetime = Field(description="The new time, with a UTC offset.")


class CancelIn(StrictIn):
    reason: str | None = Field(None, max_length=500)


class HoldOut(BaseModel):
    policy: str
    detail: str
    until: datetime | None
    message: str


def hold_out(hold: Hold | None) -> HoldOut | None:
    if hold is None:
        return None
    return HoldOut(policy=hold.policy, detail=hold.detail, until=hold.until, message=str(hold))


class QueueJobDetailOut(BaseModel):
    job: QueueJobOut
    runs: list[RunOut]
    held: HoldOut | None = Field(description="Why a pending job is not running now, if held.")
    progress: RunEventOut | None = Field(
        default=None,
        description="The latest progress of the attempt running now (null: not running, or "
        "no progress reported yet)",
    )
    output: str | None = Field(
        default=None,
        description="What the attempt running now wrote so far (a shell job's stdout and "
        "stderr, an isolated job's stderr; its newest pieces); null when not running",
    )
