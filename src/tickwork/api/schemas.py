"""The API's shared request and response models, and their conversions from domain types.

Responses are built from domain objects here, once, so every route shows a definition the same
way; a queued job, a run, a user, a token and an audit entry are shown as the CLI shows them too
(``tickwork.wire``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickwork.domain.admission import Hold
from tickwork.domain.jobs import RunStatus
from tickwork.domain.tasks import Task
from tickwork.errors import ConfigError
from tickwork.wire import QueueJobOut, RunOut

T = TypeVar("T")
# IDs are 64-bit in the store: larger ones cannot exist (and would not fit a query).
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
CursorParam = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
]
LimitParam = Annotated[int, Query(ge=1, le=1000, description="Items per page (1..1000).")]


def reject_nul(value: Any, field: str = "") -> Any:
    """``value`` unchanged, once no string in it (keys included) holds a NUL character, which
    PostgreSQL cannot store: bad input, not a store failure."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError("must not contain NUL characters", field=field or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, field)
            reject_nul(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_nul(item, f"{field}[{index}]")
    return value


class StrictIn(BaseModel):
    """Request bodies: an unknown field is an error naming it, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


# --- definitions ("jobs") --------------------------------------------------------------------
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
    definition: dict[str, Any] = Field(
        description="The definition as a [[jobs]] table of tickwork.toml (what POST takes)."
    )


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
        definition=table,
    )


class FireOut(BaseModel):
    fire_at: datetime
    runs_at: datetime = Field(description="The fire time, or the next opening of its calendar.")


# --- queued jobs -------------------------------------------------------------------------------
class HoldOut(BaseModel):
    policy: str
    detail: str
    until: datetime | None
    message: str


def hold_out(hold: Hold | None) -> HoldOut | None:
    if hold is None:
        return None
    return HoldOut(policy=hold.policy, detail=hold.detail, until=hold.until, message=str(hold))


class TriggeredOut(BaseModel):
    job_id: int
    job: QueueJobOut


class QueueJobDetailOut(BaseModel):
    job: QueueJobOut
    runs: list[RunOut]
    held: HoldOut | None = Field(description="Why a pending job is not running now, if held.")


# --- pages -------------------------------------------------------------------------------------
class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = Field(
        description="Pass as `cursor` (`before_id` for the queue) for the next page; null"
        " when this page was not full (a full last page is followed by an empty one)."
    )
