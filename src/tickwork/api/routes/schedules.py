"""Schedule expressions before they are saved: their fire times and their plain words."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, get_context
from tickwork.api.schemas.definitions import SchedulePreviewOut, noted_fire_out
from tickwork.domain.schedule_words import describe_schedule
from tickwork.service.definitions import preview_noted

router = APIRouter(prefix="/api/schedules", tags=["jobs"])


def schedule_preview(
    expression: str, timezone: str, now: datetime, count: int
) -> SchedulePreviewOut:
    """The next ``count`` fires after ``now`` (each with its daylight-saving notes) and the
    words; ``ConfigError`` naming ``schedule`` or ``timezone`` as a definition's would. The
    dashboard's form uses it too."""
    noted = preview_noted(expression, timezone, now, count)
    return SchedulePreviewOut(
        expression=expression,
        timezone=timezone,
        words=describe_schedule(expression, timezone),
        fires=[f.fire_at for f in noted],
        items=[noted_fire_out(f) for f in noted],
    )


@router.get("/preview", summary="The next fires of a schedule expression")
async def preview_schedule(
    request: Request,
    principal: Reader,
    expression: Annotated[str, Query(min_length=1, max_length=200)],
    timezone: Annotated[str, Query(min_length=1, max_length=64)] = "UTC",
    count: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SchedulePreviewOut:
    """Checked as a definition's schedule is (422 naming ``schedule`` or ``timezone``)."""
    return schedule_preview(expression, timezone, get_context(request).clock.now(), count)
