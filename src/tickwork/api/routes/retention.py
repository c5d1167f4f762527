"""``POST /api/prune``: one pass of the pruner on demand (processor control scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Controller, service_for
from tickwork.wire import PruneOut, prune_out

router = APIRouter(prefix="/api", tags=["processor"])


@router.post("/prune", response_model=PruneOut)
async def prune(
    request: Request,
    principal: Controller,
    dry_run: Annotated[
        bool, Query(description="count what would be removed; remove nothing")
    ] = False,
) -> PruneOut:
    """Remove what the ``[retention]`` policy lets go (runs, finished jobs, run events, audit
    entries, missed fires, rollups), in batches; never a pending or running job. ``skipped``:
    another process was pruning. Audited, unless a dry run."""
    service = service_for(request, principal)
    return prune_out(await service.prune(dry_run=dry_run))
