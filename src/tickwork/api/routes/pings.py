"""Pings of heartbeat checks from the jobs they watch: no token, the check's UUID (random, 122
bits) is the credential, and pings are rate limited per check and client address.

- ``GET|POST /ping/{uuid}``: a success; ``/ping/{uuid}/start``, ``/fail``, ``/log``, or
  ``/ping/{uuid}/{exit_status}`` (0: a success, else a failure);
- ``/ping/{ping_key}/{slug}[/{action}]``: the check named ``slug`` (with ``?create=1``, made
  when missing), where ``[api] ping_key`` is set;
- ``?rid=...`` pairs a start with its finish (overlapping runs).

The body (a log tail, say) is kept up to 10 KiB. The answer is ``OK`` (``Created`` with 201
when the ping made the check); an unknown check is a 404 that says nothing more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from tickwork.api.deps import get_context, secret_matches, service_for
from tickwork.api.errors import ApiError
from tickwork.api.middleware import RateLimiter
from tickwork.domain.access import Principal
from tickwork.domain.checks import MAX_BODY_BYTES, check_uuid
from tickwork.errors import NotFoundError
from tickwork.service.checks import PingRequest

router = APIRouter(prefix="/ping", tags=["pings"])

# Who pings, in the audit log of a check made by a ping.
PINGER = Principal(name="ping", scopes=frozenset())
# Bodies beyond this are refused outright (only MAX_BODY_BYTES are kept anyway).
MAX_REQUEST_BYTES = 1024 * 1024

First = Annotated[str, Path(max_length=100, description="The check's UUID, or the ping key.")]
Second = Annotated[
    str,
    Path(
        max_length=100,
        description="After a UUID: start, fail, log or an exit status; after a ping key: the"
        " check's name (slug).",
    ),
]
Action = Annotated[str, Path(max_length=8, description="start, fail, log or an exit status.")]
Rid = Annotated[
    str | None, Query(max_length=64, description="Pairs a start with its finish (a run's ID).")
]
Create = Annotated[
    int, Query(ge=0, le=1, description="1: make the check (slug form) when there is none.")
]


TWO_PARTS = "A start, failure, log or exit status; or a success by ping key and slug"
BY_SLUG = "A start, failure, log or exit status by ping key and slug"


def limiter_of(request: Request) -> RateLimiter | None:
    limiter: RateLimiter | None = getattr(request.app.state, "ping_limiter", None)
    return limiter


async def _ping(
    request: Request,
    *,
    uuid: str | None = None,
    key: str | None = None,
    slug: str | None = None,
    action: str | None = None,
    rid: str | None = None,
    create: bool = False,
) -> PlainTextResponse:
    client = request.client.host if request.client else "unknown"
    limiter = limiter_of(request)
    if limiter is not None:
        wait = limiter.check(f"{uuid or slug}|{client}")
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            raise ApiError(
                429,
                "rate_limited",
                f"too many pings; retry in {seconds}s",
                headers={"Retry-After": str(seconds)},
            )
    if key is not None and not secret_matches(key, get_context(request).settings.ping_key):
        raise NotFoundError("no such check")
    body, size = await _body(request)
    svc = service_for(request, PINGER)
    ping = PingRequest(
        action=action,
        rid=rid,
        method=request.method,
        remote_addr=client,
        user_agent=request.headers.get("user-agent", ""),
        body=body,
        body_bytes=size,
    )
    result = await svc.checks.ping(ping, uuid=uuid, name=slug, create=create)
    if result.created:
        return PlainTextResponse("Created", status_code=201)
    return PlainTextResponse("OK")


async def _body(request: Request) -> tuple[bytes, int]:
    """The body's first ``MAX_BODY_BYTES`` and its size (the rest is read, not kept)."""
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise ApiError(413, "too_large", f"a ping's body is at most {MAX_REQUEST_BYTES} bytes")
        if len(kept) < MAX_BODY_BYTES:
            kept += chunk[: MAX_BODY_BYTES - len(kept)]
    return bytes(kept), size


@router.get("/{uuid}", summary="A success")
@router.post("/{uuid}", summary="A success")
async def success(request: Request, uuid: First, rid: Rid = None) -> PlainTextResponse:
    return await _ping(request, uuid=uuid, rid=rid)


@router.get("/{first}/{second}", summary=TWO_PARTS)
@router.post("/{first}/{second}", summary=TWO_PARTS)
async def two_parts(
    request: Request, first: First, second: Second, rid: Rid = None, create: Create = 0
) -> PlainTextResponse:
    if check_uuid(first) is not None:
        if create:
            raise ApiError(
                422, "invalid", "create applies to /ping/{ping_key}/{slug}", field="create"
            )
        return await _ping(request, uuid=first, action=second, rid=rid)
    return await _ping(request, key=first, slug=second, rid=rid, create=bool(create))


@router.get("/{key}/{slug}/{action}", summary=BY_SLUG)
@router.post("/{key}/{slug}/{action}", summary=BY_SLUG)
async def by_slug(
    request: Request,
    key: First,
    slug: Second,
    action: Action,
    rid: Rid = None,
    create: Create = 0,
) -> PlainTextResponse:
    return await _ping(request, key=key, slug=slug, action=action, rid=rid, create=bool(create))
