"""The weekly report (``/report``): the report's template drawn in the frame, for a range
(``service/report.py``; the e-mail's own document at ``/report.html``, as a download)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tickwork.api.deps import get_context
from tickwork.dashboard.web import LookerDep, render

router = APIRouter(include_in_schema=False)

RANGES = ("24h", "7d", "30d")
Range = Literal["24h", "7d", "30d"]
DEFAULT_RANGE: Range = "7d"


@router.get("/report", response_class=HTMLResponse)
async def report_page(
    request: Request, who: LookerDep, since: Annotated[Range, Query()] = DEFAULT_RANGE
) -> HTMLResponse:
    service = get_context(request).service
    report = await service.report(since=since)
    # The fragment is the template's own output, escaped there.
    body = Markup(service.reports.page(report))
    return render(
        request, "report.html", {"report": report, "body": body, "since": since, "ranges": RANGES}
    )


@router.get("/report.html", response_class=HTMLResponse)
async def report_mail(
    request: Request, who: LookerDep, since: Annotated[Range, Query()] = DEFAULT_RANGE
) -> HTMLResponse:
    """The e-mail's HTML document, as a file to keep or forward (its inline styles are for
    mail clients; the dashboard's own pages allow none)."""
    service = get_context(request).service
    html = service.reports.render(await service.report(since=since)).html
    return HTMLResponse(
        html,
        headers={
            "content-disposition": f'attachment; filename="tickwork-report-{since}.html"',
            "cache-control": "no-store",
        },
    )
