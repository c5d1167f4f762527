"""The weekly report (``service/report.py``): its figures as JSON (the shape of ``tickwork
report --json``, ``wire_report.py``), or the e-mail's HTML document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import Reader, service_for
from tickwork.wire_report import ReportOut, report_out

router = APIRouter(tags=["runs"])

SinceParam = Annotated[
    str | None,
    Query(
        description="The range back from now: a duration ('7d', '12h') or a time with its UTC"
        " offset; widened to the statistics' whole periods (UTC days from 3 days on)."
        " Default: [report] since, else 7d.",
        max_length=64,
    ),
]
HTML_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as the e-mail's HTML document (inline styles, tables)",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/api/report",
    summary="The weekly report",
    response_model=ReportOut,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
async def get_report(
    request: Request,
    principal: Reader,
    since: SinceParam = None,
    format: Annotated[
        Literal["json", "html"], Query(description="json (default) or html (the e-mail's)")
    ] = "json",
) -> Any:
    """Per job: runs against the fires its schedule expected, missed fires, success rate,
    p50/p95 durations and their change against the span before; the top failure groups; the
    longest incidents; paused and disabled jobs; the queue's wait p95."""
    svc = service_for(request, principal)
    report = await svc.report(since=since)
    if format == "html":
        return HTMLResponse(svc.reports.render(report).html)
    return report_out(report)


@router.get(
    "/api/report.html",
    summary="The weekly report as the e-mail's HTML",
    response_class=HTMLResponse,
    responses=HTML_DOC,
)
async def get_report_html(request: Request, principal: Reader, since: SinceParam = None) -> Any:
    """The document the report's e-mail carries (its text part: ``tickwork report``)."""
    svc = service_for(request, principal)
    return HTMLResponse(svc.reports.render(await svc.report(since=since)).html)
