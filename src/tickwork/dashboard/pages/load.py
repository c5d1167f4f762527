"""The load preview (``/load``): the coming days' starts and concurrency per minute across every
enabled schedule (``Service.load_preview``): each day's peaks, the peak minutes, the jobs whose
p95 exceeds their interval, the schedules that start on the same second with the spread offsets
proposed and the peak they would give."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    day: datetime  # the first minute of the line: a UTC midnight, or the window's start or end
    starts: int
    peak_starts: int
    peak_concurrency: int
    part: str = ""  # "from 23:01" or "until 23:01" on a day the window cuts


def day_lines(profile: LoadProfile) -> list[DayLine]:
    """Per UTC day of the window: its starts, its busiest minute and highest concurrency. The
    window starts at the next whole minute, so its first and last days are parts of days."""
    start = profile.minute(0)
    first_cut = (1440 - (start.hour * 60 + start.minute)) % 1440 or 1440
    cuts = [0, *range(first_cut, profile.minutes, 1440), profile.minutes]
    lines: list[DayLine] = []
    for lo, hi in itertools.pairwise(cuts):
        if lo == hi:
            continue
        starts = profile.starts[lo:hi]
        running = profile.concurrency[lo:hi]
        day = profile.minute(lo)
        part = ""
        if lo == 0 and first_cut < 1440:
            part = f"from {day:%H:%M}"
        elif hi == profile.minutes and hi - lo < 1440:
            part = f"until {profile.minute(hi - 1) + timedelta(minutes=1):%H:%M}"
        lines.append(DayLine(day, sum(starts), max(starts, default=0), max(running), part))
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
