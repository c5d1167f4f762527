"""The audit log: who changed or did what, when, through which request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Auditor, service_for
from tickwork.api.schemas.common import CursorPage, CursorParam, LimitParam
from tickwork.domain.access import AuditQuery
from tickwork.wire import AuditOut, audit_out

router = APIRouter(prefix="/api/audit", tags=["audit"])

Text = Annotated[str | None, Query(max_length=200)]


@router.get("", summary="Audit entries, newest first")
async def audit_log(
    request: Request,
    principal: Auditor,
    actor: Text = None,
    action: Annotated[
        str | None, Query(max_length=200, description="Exact, or a prefix ending in '.'")
    ] = None,
    target_type: Text = None,
    target: Text = None,
    since: Annotated[datetime | None, Query(description="At or after (with offset).")] = None,
    until: Annotated[datetime | None, Query(description="Before (with offset).")] = None,
    before_id: CursorParam = None,
    limit: LimitParam = 100,
) -> CursorPage[AuditOut]:
    query = AuditQuery(
        actor=actor,
        action=action,
        target_type=target_type,
        target=target,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    entries = await service_for(request, principal).audit_log(query)
    next_cursor = entries[-1].id if len(entries) == limit else None
    return CursorPage[AuditOut](items=[audit_out(e) for e in entries], next_cursor=next_cursor)
