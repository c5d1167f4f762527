"""Backfills (``service/backfills.py``): run a job's schedule for a past range (or its dry run),
list backfills with their progress, cancel one as a whole. Creating and cancelling need the
trigger scope, as triggering a job does; the shapes are ``tickwork backfill --json``'s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tickwork.api.deps import Reader, Triggerer, service_for
from tickwork.api.schemas.backfills import BackfillIn
from tickwork.api.schemas.common import Id
from tickwork.domain.durations import parse_time
from tickwork.domain.tasks import NAME_PATTERN
from tickwork.wire_backfills import (
    BackfillCancelOut,
    BackfillOut,
    BackfillResultOut,
    backfill_out,
    backfill_result_out,
)

router = APIRouter(tags=["jobs"])

JobName = Annotated[str, Path(pattern=NAME_PATTERN, description="A job definition's name.")]


@router.post("/api/jobs/{name}/backfill", summary="Run a job's schedule for a past range")
async def backfill_job(
    request: Request, principal: Triggerer, name: JobName, body: BackfillIn
) -> BackfillResultOut:
    """One job per fire of the job's schedule in [from, to] (its own fire times, in its
    timezone), each carrying its fire time (`fire_at`) and triggered by `backfill`. Fires that
    already have a job (a scheduled run, an earlier backfill) are not repeated: `created` and
    `present` say how many of each. A range with more fires than `max` is refused (422, with
    its count); nothing is created then. `dry_run`: only the fires and counts."""
    svc = service_for(request, principal)
    start = parse_time(body.from_, "from")
    end = parse_time(body.to, "to")
    result = await svc.backfill(
        name, start, end, overlap=body.overlap, max_fires=body.max, dry_run=body.dry_run
    )
    return backfill_result_out(result)


@router.get("/api/backfills", summary="Backfills with their progress, newest first")
async def list_backfills(
    request: Request,
    principal: Reader,
    task: Annotated[str | None, Query(description="Only this job's.", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[BackfillOut]:
    svc = service_for(request, principal)
    return [backfill_out(b) for b in await svc.list_backfills(task, limit)]


@router.get("/api/backfills/{backfill_id}", summary="A backfill with its progress")
async def get_backfill(request: Request, principal: Reader, backfill_id: Id) -> BackfillOut:
    svc = service_for(request, principal)
    return backfill_out(await svc.get_backfill(backfill_id))


@router.post("/api/backfills/{backfill_id}/cancel", summary="Cancel a backfill as a whole")
async def cancel_backfill(
    request: Request, principal: Triggerer, backfill_id: Id
) -> BackfillCancelOut:
    """Its pending jobs are cancelled (audited `backfill.cancel`); running ones finish. 409
    when it was cancelled already."""
    svc = service_for(request, principal)
    backfill, cancelled = await svc.cancel_backfill(backfill_id)
    return BackfillCancelOut(backfill=backfill_out(backfill), cancelled_jobs=cancelled)
