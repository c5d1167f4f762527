"""A job's backfills on its page (``templates/_backfills.html``): the form that previews or
starts one (times read as UTC, as the queue's reschedule reads them), and cancel of one as a
whole. Both need the trigger scope, as over the REST API; a bad value is the error page
naming it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from tickwork.api.deps import service_for
from tickwork.dashboard.pages.queue import parse_local_time
from tickwork.dashboard.web import Looker, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.tasks import NAME_PATTERN
from tickwork.errors import ConfigError

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
JobName = Annotated[str, Path(pattern=NAME_PATTERN)]
# Fires a preview lists (the counts cover them all).
PREVIEW_FIRES = 100


@router.post("/jobs/{name}/backfill")
async def backfill(request: Request, name: JobName, who: Triggerer) -> Response:
    """``action=preview``: the fires and counts of the range, nothing created; otherwise the
    backfill is made and the job's page shows it."""
    form = await form_of(request)
    start = parse_local_time(form.get("from", "").strip(), "from")
    end = parse_local_time(form.get("to", "").strip(), "to")
    text = form.get("max", "").strip()
    if text and not text.isdigit():
        raise ConfigError(f"{text[:20]!r} is not a number", field="max")
    preview = form.get("action") == "preview"
    result = await service_for(request, who.principal).backfill(
        name,
        start,
        end,
        overlap=form.get("overlap", "queue"),
        max_fires=int(text) if text else None,
        dry_run=preview,
    )
    if not preview:
        return redirect(f"/jobs/{name}#backfills")
    return render(
        request,
        "backfill_preview.html",
        {
            "name": name,
            "result": result,
            "shown": result.fires[:PREVIEW_FIRES],
            "form": {k: form.get(k, "") for k in ("from", "to", "overlap", "max")},
        },
    )


@router.post("/backfills/{backfill_id}/cancel")
async def cancel(request: Request, backfill_id: int, who: Triggerer) -> RedirectResponse:
    backfill, _ = await service_for(request, who.principal).cancel_backfill(backfill_id)
    return redirect(f"/jobs/{backfill.task_name}#backfills")
