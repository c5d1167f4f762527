"""Missed fires: schedule fires that did not become runs, with their reasons, and their counts
per task."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Reader, service_for
from tickwork.api.schemas.common import CursorPage, CursorParam, LimitParam
from tickwork.service.activity import since_of
from tickwork.service.queries import MissedFireQuery, MissedReason
from tickwork.wire import MissedCountOut, MissedFireOut, missed_counts_out, missed_fire_out

router = APIRouter(prefix="/api/missed-fires", tags=["runs"])

TaskParam = Annotated[str | None, Query(description="A job (task) name.", max_length=200)]
SinceParam = Annotated[
    str | None,
    Query(
        description="Recorded since: a duration back from now ('7d', '12h') or a time with its"
        " UTC offset.",
        max_length=64,
    ),
]
ReasonParam = Annotated[list[MissedReason] | None, Query(description="Repeatable.")]


def _query(
    now: datetime,
    task: str | None,
    since: str | None,
    reason: list[MissedReason] | None,
    *,
    before_id: int | None = None,
    limit: int = 100,
) -> MissedFireQuery:
    return MissedFireQuery(
        task_name=task,
        since=None if since is None else since_of(since, now),
        reasons=tuple(reason or ()),
        before_id=before_id,
        limit=limit,
    )


@router.get("", summary="Missed fires, newest first")
async def list_missed(
    request: Request,
    principal: Reader,
    task: TaskParam = None,
    since: SinceParam = None,
    reason: ReasonParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> CursorPage[MissedFireOut]:
    """Each fire of a schedule that did not become a run: `overlap`, `misfire`,
    `no_scheduler`, `calendar`, `disabled`, `paused` or `dependency` (see the activity docs)."""
    svc = service_for(request, principal)
    query = _query(svc.clock.now(), task, since, reason, before_id=cursor, limit=limit)
    missed = await svc.missed_fires(query)
    next_cursor = missed[-1].id if len(missed) == limit else None
    return CursorPage[MissedFireOut](
        items=[missed_fire_out(m) for m in missed], next_cursor=next_cursor
    )


@router.get("/counts", summary="Missed fires per task, by reason")
async def missed_counts(
    request: Request,
    principal: Reader,
    task: TaskParam = None,
    since: SinceParam = None,
    reason: ReasonParam = None,
) -> list[MissedCountOut]:
    svc = service_for(request, principal)
    counts = await svc.missed_counts(_query(svc.clock.now(), task, since, reason))
    return missed_counts_out(counts)
