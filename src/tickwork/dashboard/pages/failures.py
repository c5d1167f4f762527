"""Failures (``/failures``): the failed jobs of a range grouped by error, the group with the
newest failure first, each with its affected jobs and samples, and "Retry all" and "Discard"
for those who may trigger (``service/failures.py``: both acknowledge the group)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context, service_for
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.errors import ConfigError

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
RANGES = ("1h", "24h", "7d", "30d")
Range = Literal["1h", "24h", "7d", "30d"]
DEFAULT_RANGE: Range = "7d"
PAGE = 50


@router.get("/failures", response_class=HTMLResponse)
async def failures(
    request: Request,
    who: LookerDep,
    since: Annotated[Range, Query()] = DEFAULT_RANGE,
    after: Annotated[
        str | None, Query(max_length=64, description="The last group of the previous page")
    ] = None,
    done: Annotated[Literal["retry", "discard"] | None, Query()] = None,
    n: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    report = await get_context(request).service.failures(since=since)
    groups = report.groups
    start = 0
    lost = False
    if after is not None:
        # Keyset over the groups' order (newest last failure first): those after that group.
        position = next((i for i, g in enumerate(groups) if g.fingerprint == after), None)
        lost = position is None
        start = len(groups) if position is None else position + 1
    page = groups[start : start + PAGE]
    next_url = (
        f"/failures?since={since}&after={page[-1].fingerprint}"
        if start + PAGE < len(groups)
        else None
    )
    return render(
        request,
        "failures.html",
        {
            "report": report,
            "groups": page,
            "total_groups": len(groups),
            "since": since,
            "ranges": RANGES,
            "next_url": next_url,
            "lost": lost,
            "flash": _flash(done, n),
        },
    )


@router.post("/failures/{fingerprint}/retry")
async def retry(request: Request, fingerprint: str, who: Triggerer) -> RedirectResponse:
    since = await _since(request)
    count = await service_for(request, who.principal).retry_failures(fingerprint, since=since)
    return redirect(f"/failures?since={since}&done=retry&n={count}")


@router.post("/failures/{fingerprint}/discard")
async def discard(request: Request, fingerprint: str, who: Triggerer) -> RedirectResponse:
    since = await _since(request)
    count = await service_for(request, who.principal).discard_failures(fingerprint, since=since)
    return redirect(f"/failures?since={since}&done=discard&n={count}")


async def _since(request: Request) -> str:
    since = (await form_of(request)).get("since", DEFAULT_RANGE)
    if since not in RANGES:
        raise ConfigError(
            f"expected a range of {', '.join(RANGES)}, got {since[:20]!r}", field="since"
        )
    return since


def _flash(done: str | None, n: int | None) -> str | None:
    if done is None or n is None:
        return None
    if done == "retry":
        return f"Queued {n} failed job(s) again; the group left the list."
    return f"Discarded {n} failed job(s); their runs are kept."
