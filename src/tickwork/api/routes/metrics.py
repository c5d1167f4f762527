"""``GET /metrics``: the cluster's figures for Prometheus (D12), outside ``/api`` where
scrapers look by default. Needs ``jobs:read``, or nothing with ``[api] metrics_public``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from tickwork.api.deps import get_context, require
from tickwork.domain.access import Scope

router = APIRouter(tags=["health"])

_read = require(Scope.JOBS_READ)


async def scraper_allowed(request: Request) -> None:
    """The caller must have ``jobs:read`` unless the metrics are public."""
    if not get_context(request).settings.metrics_public:
        await _read(request)


@router.get(
    "/metrics",
    dependencies=[Depends(scraper_allowed)],
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the Accept header asks)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Run counts, durations and waits by task, the queue, schedules, missed fires and
    processors, read from the store at most every 5 s; no job or run IDs as labels."""
    ctx = get_context(request)
    snapshot = await ctx.metrics.snapshot()
    # Off the event loop: writing a large cluster's series takes a while.
    body, content_type = await asyncio.to_thread(
        ctx.exposition.render, snapshot, request.headers.get("accept")
    )
    return Response(body, media_type=content_type)
