"""The webhook other systems call (``POST /api/cron/webhook``): what it takes and answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tickwork.api.schemas.common import FiniteFloat


class WebhookIn(BaseModel):
    """``job`` (trigger that defined job now), ``task`` (enqueue a job of it), or neither
    (process due jobs now, as ``POST /api/cron/trigger`` does)."""

    model_config = ConfigDict(extra="forbid")
    secret: str | None = None
    job: str | None = None
    task: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    delay: FiniteFloat | str | None = None  # seconds or "30s"


class WebhookOut(BaseModel):
    action: str  # "trigger", "enqueue", or "process" (due jobs now)
    job_id: int | None = None  # the job triggered or enqueued
    task: str | None = None
    due_jobs: int | None = None  # "process": pending jobs due now, which awake workers claim
