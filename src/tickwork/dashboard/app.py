"""The web app a tickwork process serves: the REST API under ``/api`` and the dashboard's
pages at ``/``, in one FastAPI application over one ``ApiContext``.

Errors raised by a page are shown as a page (a login form for a missing session); those of
the API keep their JSON bodies: each handler of the API is wrapped by one that looks at the
path first.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickwork.api.app import create_app as create_api
from tickwork.api.deps import ApiContext
from tickwork.api.errors import ApiError
from tickwork.dashboard.live import router as live_router
from tickwork.dashboard.pages import PAGE_MODULES
from tickwork.dashboard.web import STATIC, LoginRequired, render
from tickwork.errors import TickworkError
from tickwork.service.sessions import Sessions

# Paths that stay the API's (JSON errors); everything else is the dashboard's.
API_PREFIXES = ("/api/", "/api", "/metrics", "/health", "/ping")

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def create_app(ctx: ApiContext) -> FastAPI:
    """The REST API with the dashboard beside it."""
    app = create_api(ctx)
    app.state.sessions = Sessions(ctx.service.ctx, ctx.accounts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(live_router)
    for module in PAGE_MODULES:
        app.include_router(module.router)
    _page_errors(app)
    return app


def is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def _page_errors(app: FastAPI) -> None:
    """Wrap each error handler of the API so that a page's error is a page."""
    handlers = cast(dict[Any, Handler], app.exception_handlers)

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
        return render(
            request,
            "error.html",
            {"status": 401, "message": "your session ended; log in again"},
            status_code=401,
        )

    handlers[LoginRequired] = login_required
    for kind in (
        TickworkError,
        ApiError,
        RequestValidationError,
        StarletteHTTPException,
        Exception,
    ):
        api_handler = handlers.get(kind)
        if api_handler is not None:
            handlers[kind] = _wrapped(api_handler)


def _wrapped(api_handler: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        response = api_handler(request, exc)
        if not isinstance(response, Response):
            response = await response
        if not is_page(request):
            return response
        return _error_page(request, response)

    return handler


def _error_page(request: Request, api_response: Response) -> HTMLResponse:
    """The API's answer to the same error, as a page: its status and message."""
    try:
        message = str(json.loads(bytes(api_response.body))["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = "the request failed"
    if api_response.status_code == 404 and message == "no such endpoint":
        message = "no such page"
    status = api_response.status_code
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
