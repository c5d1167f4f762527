"""``GET /health`` (the load balancer's probe: a store ping, nothing else) and
``GET /api/status`` (job counts and processors, for people and dashboards)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tickwork.api.deps import get_context, require
from tickwork.domain.access import Principal, Scope
from tickwork.service.status import Status
from tickwork.version import __version__
from tickwork.wire import ProcessorOut, processor_out

router = APIRouter(tags=["health"])

Reader = Annotated[Principal, Depends(require(Scope.JOBS_READ))]


class HealthOut(BaseModel):
    status: str  # "ok" or "unavailable"
    timestamp: datetime


class StatusOut(BaseModel):
    version: str
    jobs_by_state: dict[str, int]
    processors: list[ProcessorOut]


def status_out(status: Status) -> StatusOut:
    return StatusOut(
        version=__version__,
        jobs_by_state={state.value: n for state, n in sorted(status.jobs_by_state.items())},
        processors=[processor_out(p) for p in status.processors],
    )


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The store is unreachable"}},
)
async def health(request: Request) -> JSONResponse:
    """Unauthenticated and cheap (one store round trip): 200 when the store answers, else 503.
    Not rate limited. For the detailed view see ``GET /api/cron/health``."""
    ctx = get_context(request)
    status, code = ("ok", 200) if await ctx.analytics.store_reachable() else ("unavailable", 503)
    body = HealthOut(status=status, timestamp=ctx.clock.now())
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get("/api/status", response_model=StatusOut)
async def api_status(request: Request, principal: Reader) -> StatusOut:
    """Jobs by state, and each processor with its state and running jobs (like
    ``tickwork status``)."""
    ctx = get_context(request)
    status = await ctx.service.status(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    return status_out(status)
