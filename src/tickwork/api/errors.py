"""Every API error as JSON ``{"error": {"code", "message", "field"?}}``, with its status.

Domain errors map to statuses here, once; routes only raise. Bad input is always a 4xx naming
the problem; anything unexpected is a 500 whose body says nothing about the code (it is logged
with the request ID instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickwork.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InvalidStateError,
    NotFoundError,
    StoreError,
    TickworkError,
)

log = logging.getLogger("tickwork.api")

# Domain error -> (status, code). Order matters only for subclasses (none today).
_STATUS: tuple[tuple[type[TickworkError], int, str], ...] = (
    (ConfigError, 422, "invalid"),
    (NotFoundError, 404, "not_found"),
    (InvalidStateError, 409, "invalid_state"),
    (ConflictError, 409, "conflict"),
    (AuthError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (StoreError, 503, "store_unavailable"),
)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class ApiError(Exception):
    """An error raised by the adapter itself (not the domain), e.g. a malformed header."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, field), status_code=status, headers=dict(headers or {})
    )


def domain_status(exc: TickworkError) -> tuple[int, str]:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 400, "bad_request"  # Retry/Fail and other user-caused errors


def domain_error_response(exc: TickworkError) -> JSONResponse:
    status, code = domain_status(exc)
    field = exc.field if isinstance(exc, ConfigError) else None
    headers = BEARER_CHALLENGE if status == 401 else None
    if status == 503:
        log.warning("store unavailable: %s", exc)
    return error_response(status, code, str(exc), field=field, headers=headers)


def validation_error_response(errors: Sequence[Any]) -> JSONResponse:
    """FastAPI/pydantic validation errors: the first one, with its field as a dotted path.

    A body that is not JSON at all is a 400 ("bad request"); anything else is a 422."""
    if not errors:
        return error_response(422, "invalid", "invalid request")
    first = errors[0]
    kind = str(first.get("type", ""))
    loc = [str(part) for part in first.get("loc", ())]
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        message = f"request body is not valid JSON: {detail}" if detail else "invalid JSON"
        return error_response(400, "bad_request", message)
    # Drop where it came from ("body", "query", ...): the field is what the caller wrote.
    where = loc[0] if loc else ""
    path = loc[1:] if where in {"body", "query", "path", "header", "cookie"} else loc
    if where in {"query", "path", "header"}:
        path = path[:1]  # "status", not "status.0", for an item of a repeated parameter
    field = ".".join(path) or None
    message = str(first.get("msg", "invalid value"))
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "unknown field"
    if where in {"query", "path", "header"}:
        message = f"{where} parameter {field!r}: {message}" if field else message
    elif field:
        message = f"{field}: {message}"
    return error_response(422, "invalid", message, field=field)


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
        )

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TickworkError)
        return domain_error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc.errors())

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        headers = dict(exc.headers or {})
        return error_response(exc.status_code, code, message, headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.error(
            "unexpected error in %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
        return error_response(500, "internal", "internal error; see the server log")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(TickworkError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
