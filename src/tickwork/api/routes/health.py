"""``GET /health`` (the load balancer's probe) and ``GET /api/status`` (the cluster at a glance).

The probe is a store ping, nothing else; the status is job counts and processors, for people
and dashboards."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tickwork.api.deps import Reader, get_context
from tickwork.api.schemas.status import HealthOut, StatusOut, status_out

router = APIRouter(tags=["health"])


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
