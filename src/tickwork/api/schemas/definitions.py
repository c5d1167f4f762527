"""Definitions over the API: one with its state and ``[[jobs]]`` table, pages, fire times."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tickwork.api.schemas.common import StrictIn
from tickwork.domain.fire_notes import NotedFire
from tickwork.domain.jobs import RunStatus
from tickwork.domain.tasks import MAX_PAUSE_REASON, Task, TaskKind
from tickwork.wire import AutoOut, PauseOut, QueueJobOut, auto_out, pause_out


# The API's view of a definition, not the CLI's (``cli.render.task_dict``): what POST takes,
# as a [[jobs]] table, rather than the settings spelled out (docs/decisions.md).
class JobOut(BaseModel):
    name: str
    kind: str
    schedule: str | None
    timezone: str
    description: str
    tags: list[str]
    enabled: bool
    removed: bool
    source: str
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_run_status: str | None = Field(
        None, description="The status of its most recent run; null if it never ran."
    )
    created_at: datetime
    updated_at: datetime
    paused: bool = Field(
        False, description="Its schedule is paused: its fires are missed fires (`paused`)."
    )
    pause: PauseOut | None = Field(None, description="The pause, while it is paused.")
    auto: AutoOut | None = Field(
        None,
        description="What auto-rescheduling changed of its schedule; null: the definition's.",
    )
    definition: dict[str, Any] = Field(
        description="The definition as a [[jobs]] table of tickwork.toml (what POST takes)."
    )


# The latest-run filter of definitions ('never': no run yet; 'failing': failed or timed out).
LastStatus = Literal[
    "succeeded",
    "failed",
    "timeout",
    "cancelled",
    "interrupted",
    "skipped",
    "deferred",
    "never",
    "failing",
]


class JobFilterIn(BaseModel):
    """Which definitions a bulk action selects: the filters of ``GET /api/jobs``."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200, description="Part of the name.")
    tag: str | None = Field(default=None, max_length=200)
    kind: TaskKind | None = None
    enabled: bool | None = None
    status: LastStatus | None = Field(default=None, description="The status of the latest run.")


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["enable", "disable", "trigger"]
    filter: JobFilterIn = Field(
        default_factory=lambda: JobFilterIn(),
        description="Every live definition it selects is acted on (empty: all of them).",
    )


class BulkOut(BaseModel):
    action: str
    changed: list[str] = Field(description="The definitions acted on.")
    unchanged: list[str] = Field(description="Those already enabled or disabled.")
    job_ids: list[int] = Field(description="trigger: the new jobs, in the order of changed.")


class NotedFireOut(BaseModel):
    fire_at: datetime
    runs_at: datetime = Field(description="The fire time, or the next opening of its calendar.")
    notes: list[str] = Field(
        description="Daylight-saving changes (a skipped or repeated hour, a new UTC offset)"
        " and calendar moves that concern this fire."
    )


def noted_fire_out(fire: NotedFire) -> NotedFireOut:
    return NotedFireOut(fire_at=fire.fire_at, runs_at=fire.runs_at, notes=list(fire.notes))


class SchedulePreviewOut(BaseModel):
    expression: str
    timezone: str
    words: str = Field(description="The schedule in plain words.")
    fires: list[datetime]
    items: list[NotedFireOut] = Field(description="The same fires, each with its notes.")


class JobPage(BaseModel):
    items: list[JobOut]
    page: int
    limit: int
    total: int


def job_out(task: Task, table: dict[str, Any], last_run_status: RunStatus | None = None) -> JobOut:
    d = task.definition
    return JobOut(
        name=d.name,
        kind=d.kind.value,
        schedule=d.schedule,
        timezone=d.timezone,
        description=d.description,
        tags=list(d.tags),
        enabled=d.enabled,
        removed=task.removed,
        source=d.source.value,
        next_fire_at=task.next_fire_at,
        last_fire_at=task.last_fire_at,
        last_run_status=None if last_run_status is None else last_run_status.value,
        created_at=task.created_at,
        updated_at=task.updated_at,
        paused=task.pause is not None,
        pause=pause_out(task.pause),
        auto=auto_out(task.auto),
        definition=table,
    )


class PauseIn(StrictIn):
    reason: str = Field(description=f"Why (required, at most {MAX_PAUSE_REASON} characters).")
    until: datetime | None = Field(
        None,
        description="When it resumes by itself (ISO 8601 with a UTC offset, in the future);"
        " null: until resumed.",
    )


class FireOut(BaseModel):
    fire_at: datetime
    runs_at: datetime = Field(description="The fire time, or the next opening of its calendar.")
    notes: list[str] = Field(
        default_factory=list,
        description="Daylight-saving changes and calendar moves that concern this fire.",
    )


class TriggeredOut(BaseModel):
    job_id: int
    job: QueueJobOut
