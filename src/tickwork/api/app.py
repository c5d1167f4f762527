"""The FastAPI application: routers, error handlers, middleware and the offline docs page."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from tickwork.api.deps import ApiContext, known_query_only
from tickwork.api.docs import DOCS_CSS, render_docs
from tickwork.api.errors import error_body, install_error_handlers
from tickwork.api.middleware import ApiMiddleware, RateLimiter
from tickwork.api.routes import (
    accounts,
    alerts,
    analytics,
    audit,
    backfills,
    checks,
    events,
    explain,
    failures,
    health,
    jobs,
    metrics,
    missed,
    pings,
    processors,
    queue,
    report,
    retention,
    runs,
    schedules,
    stats,
    webhook,
)
from tickwork.logs import capture_context
from tickwork.version import __version__

log = logging.getLogger("tickwork.api")

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
# Every documented error response has this body.
ERROR_SCHEMA = {
    "description": "Error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                        },
                    }
                },
            },
            "example": error_body("not_found", "no job named 'nightly'"),
        }
    },
}


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over ``ctx``; serve it with ``tickwork.api.server`` or any ASGI server."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if ctx.events is not None:
                await ctx.events.close()

    app = FastAPI(
        title="tickwork",
        version=__version__,
        description="Cron jobs and background jobs: definitions, queue, runs and processors.",
        openapi_url=None,  # served below, as a route like the others (its query checked)
        docs_url=None,  # the default pages load scripts from a CDN; ours is offline
        redoc_url=None,
        lifespan=lifespan,
        responses={code: ERROR_SCHEMA for code in (400, 401, 403, 404, 409, 422, 429, 503)},
        dependencies=[Depends(known_query_only)],
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    routers = (
        explain,  # before jobs: /api/jobs/{name}/explain
        jobs,
        schedules,
        queue,
        runs,
        missed,
        failures,
        backfills,
        audit,
        accounts,
        processors,
        retention,
        analytics,
        webhook,
        events,
        health,
        metrics,
        stats,
        alerts,
        checks,
        pings,
        report,
    )
    for module in routers:
        app.include_router(module.router)

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS_URL, include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi(), OPENAPI_URL))

    @app.get(DOCS_URL + ".css", include_in_schema=False, response_class=PlainTextResponse)
    def docs_css() -> PlainTextResponse:
        return PlainTextResponse(DOCS_CSS, media_type="text/css")

    # Added last, so it runs first: every response, even a CORS preflight, gets the headers.
    if ctx.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(ctx.settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Last-Event-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    ping_rate = ctx.settings.ping_rate_limit
    app.state.ping_limiter = None if ping_rate is None else RateLimiter(ping_rate)
    rate = ctx.settings.rate_limit
    app.add_middleware(ApiMiddleware, limiter=None if rate is None else RateLimiter(rate))
    capture_context()  # a request's lines keep its ID, whichever handler formats them
    return app
