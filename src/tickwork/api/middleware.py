"""One ASGI middleware for what every response needs: a request ID, security headers, the
per-caller rate limit, an access log line, and a JSON 500 when a route fails unexpectedly.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it adds no task per request and lets
streamed responses (server-sent events) through untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickwork.api.errors import error_body
from tickwork.domain.limits import RateLimit
from tickwork.logs import bind, unbind
from tickwork.service.audit import current_request_id

log = logging.getLogger("tickwork.api")
access_log = logging.getLogger("tickwork.api.access")

REQUEST_ID_HEADER = "x-request-id"
# An incoming ID is kept only if it is short and plain (it ends up in logs and the audit log).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Nothing to other sites. Not "no-referrer": under it a browser sends ``Origin: null``
    # with the dashboard's own form POSTs, and the dashboard's same-origin check refuses them.
    (b"referrer-policy", b"same-origin"),
)
# Paths that are never rate limited: the load balancer's health probe.
UNLIMITED_PATHS = frozenset({"/health"})


def shown_path(path: str) -> str:
    """A path as the access log shows it: a ping's check UUID or ping key (its credential)
    masked."""
    if not path.startswith("/ping/"):
        return path
    _, _, rest = path[len("/ping/") :].partition("/")
    return "/ping/***" + (f"/{rest}" if rest else "")


def sane_request_id(value: str | None) -> str:
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RateLimiter:
    """In-process GCRA per key: a burst of ``rate.limit``, then one request per interval.

    ``check`` returns None when allowed, else the seconds until the next request would be.
    Keys whose state has fully drained are dropped, so memory follows active callers only.
    """

    MAX_KEYS = 50_000

    def __init__(self, rate: RateLimit, *, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._now = now
        self._tats: dict[str, float] = {}

    def check(self, key: str) -> float | None:
        now = self._now()
        interval = self.rate.interval_seconds
        tolerance = self.rate.period_seconds - interval
        tat = max(self._tats.get(key, now), now)
        if tat - now > tolerance:
            return tat - tolerance - now
        if len(self._tats) >= self.MAX_KEYS:
            self._prune(now)
        self._tats[key] = tat + interval
        return None

    def _prune(self, now: float) -> None:
        self._tats = {k: tat for k, tat in self._tats.items() if tat > now}
        if len(self._tats) >= self.MAX_KEYS:  # all active: forget the oldest half
            keep = sorted(self._tats.items(), key=lambda item: item[1])[self.MAX_KEYS // 2 :]
            self._tats = dict(keep)


def rate_key(scope: Scope) -> str:
    """Per token (a digest of the credential, never the secret itself), else per client IP."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return "bearer:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class ApiMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = sane_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)  # for the audit entries of the request
        log_token = bind(request_id=request_id)  # for its log lines, whoever writes them
        started = time.perf_counter()
        status = 0
        extra_headers = [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {h for h, _ in extra_headers}
                ]
                message = {**message, "headers": [*headers, *extra_headers]}
            await send(message)

        try:
            if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
                # PostgreSQL cannot store NUL: refuse it as bad input up front.
                await _send_json(
                    send_with_headers,
                    400,
                    error_body("bad_request", "NUL characters are not allowed in URLs"),
                )
                return
            retry_after = None
            if self.limiter is not None and scope.get("path") not in UNLIMITED_PATHS:
                retry_after = self.limiter.check(rate_key(scope))
            if retry_after is not None:
                seconds = max(1, math.ceil(retry_after))
                await _send_json(
                    send_with_headers,
                    429,
                    error_body("rate_limited", f"too many requests; retry in {seconds}s"),
                    [(b"retry-after", str(seconds).encode())],
                )
            else:
                try:
                    await self.app(scope, receive, send_with_headers)
                except Exception:
                    log.exception(
                        "unexpected error in %s %s", scope["method"], shown_path(scope["path"])
                    )
                    if status:  # the response had started: nothing more can be said
                        raise
                    await _send_json(
                        send_with_headers,
                        500,
                        error_body("internal", "internal error; see the server log"),
                    )
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            path = shown_path(scope["path"])
            access_log.info("%s %s %d %.1fms", scope["method"], path, status, elapsed_ms)
            unbind(log_token)
            current_request_id.reset(token)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
