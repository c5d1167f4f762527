"""What every area's models share: strict bodies without NUL characters, IDs, pages, bounds.

``StrictIn`` is the base of every request body: an unknown field is an error naming it, and
no string may hold a NUL character (PostgreSQL cannot store one).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickwork.errors import ConfigError

T = TypeVar("T")
# IDs are 64-bit in the store: larger ones cannot exist (and would not fit a query).
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
CursorParam = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
]
LimitParam = Annotated[int, Query(ge=1, le=1000, description="Items per page (1..1000).")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Durations beyond ten years are mistakes, and beyond what datetimes can add.
MAX_MINUTES = 10 * 365 * 24 * 60


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


class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = Field(
        description="Pass as `cursor` (`before_id` for the queue) for the next page; null"
        " when this page was not full (a full last page is followed by an empty one)."
    )
