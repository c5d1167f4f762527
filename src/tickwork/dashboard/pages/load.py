"""The load preview (``/load``): the coming days' starts and concurrency per minute across every
enabled schedule (``Service.load_preview``): each day's peaks, the peak minutes, the jobs whose
p95 exceeds their interval, the schedules that start on the same second with the spread offsets
proposed and the peak they would give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import LookerDep, render
from tickwork.domain.load import MAX_DAYS, LoadProfile

router = APIRouter(include_in_schema=False)

DAYS = (1, 7, 14)


@dataclass(frozen=True)
class DayLine:
    day: datetime
    starts: int
    peak_starts: int
    peak_concurrency: int


def day_lines(profile: LoadProfile) -> list[DayLine]:
    """Per day of the window (UTC): its starts, its busiest minute and highest concurrency."""
    lines: list[DayLine] = []
    for first in range(0, profile.minutes, 1440):
        starts = profile.starts[first : first + 1440]
        running = profile.concurrency[first : first + 1440]
        lines.append(
            DayLine(profile.minute(first), sum(starts), max(starts, default=0), max(running))
        )
    return lines


@router.get("/load", response_class=HTMLResponse)
async def load_page(
    request: Request, who: LookerDep, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 7
) -> HTMLResponse:
    preview = await get_context(request).service.load_preview(days)
    report = preview.report
    return render(
        request,
        "load.html",
        {
            "preview": preview,
            "r": report,
            "days_lines": day_lines(report.profile),
            "days": days,
            "choices": DAYS,
        },
    )
