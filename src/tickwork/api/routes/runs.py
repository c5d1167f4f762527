"""Run history across all jobs: filtered, sorted, paged; one run with its output."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, service_for
from tickwork.api.schemas.common import MAX_ID, CursorPage, CursorParam, Id, LimitParam
from tickwork.domain.jobs import RunStatus, TriggeredBy
from tickwork.errors import ConfigError
from tickwork.service.queries import RunQuery
from tickwork.wire import RunDetailOut, RunOut, run_detail_out, run_out

router = APIRouter(prefix="/api/runs", tags=["runs"])


@router.get("", summary="Runs, newest first unless sorted otherwise")
async def list_runs(
    request: Request,
    principal: Reader,
    job: Annotated[str | None, Query(description="A job (task) name.", max_length=200)] = None,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[list[RunStatus] | None, Query(description="Repeatable.")] = None,
    triggered_by: Annotated[list[TriggeredBy] | None, Query(description="Repeatable.")] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Started at or after (with offset).")
    ] = None,
    to: Annotated[datetime | None, Query(description="Started before (with offset).")] = None,
    sort: Literal["started_at", "finished_at", "duration"] = "started_at",
    order: Literal["asc", "desc"] = "desc",
    cursor: CursorParam = None,
    page: Annotated[
        int | None, Query(ge=1, le=10_000, description="Instead of a cursor; deep: use it.")
    ] = None,
    limit: LimitParam = 50,
) -> CursorPage[RunOut]:
    """Pages with `cursor` (keyset: fast at any depth) or `page` (offset)."""
    if cursor is not None and page is not None:
        raise ConfigError("give either a cursor or a page, not both", field="page")
    ascending = order == "asc"
    offset = 0 if page is None else (page - 1) * limit
    query = RunQuery(
        task_name=job,
        job_id=job_id,
        statuses=status,
        triggered_by=triggered_by,
        started_from=from_,
        started_to=to,
        before_id=None if ascending else cursor,
        after_id=cursor if ascending else None,
        sort=sort,
        ascending=ascending,
        offset=offset,
        limit=limit,
    )
    runs = await service_for(request, principal).query_runs(query)
    next_cursor = runs[-1].id if len(runs) == limit else None
    return CursorPage[RunOut](items=[run_out(r) for r in runs], next_cursor=next_cursor)


@router.get("/{run_id}", summary="One run with its output, error, traceback and metrics")
async def get_run(request: Request, principal: Reader, run_id: Id) -> RunDetailOut:
    return run_detail_out(await service_for(request, principal).get_run(run_id))
