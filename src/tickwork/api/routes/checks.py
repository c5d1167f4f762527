"""Heartbeat checks (``service/checks.py``): list, create, read, change, remove, pause and
resume, and a check's pings. The same shapes as ``tickwork checks`` (``wire_checks.py``).
Pings themselves come to ``/ping/...`` (``routes/pings.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from tickwork.api.deps import Reader, Triggerer, Writer, service_for
from tickwork.api.schemas.common import MAX_ID, StrictIn
from tickwork.service.checks import PINGS_LIMIT
from tickwork.wire_checks import CheckOut, PingOut, check_out, ping_out

router = APIRouter(prefix="/api/checks", tags=["checks"])

CheckKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        description="The check's name, or its UUID (its ping address).",
    ),
]
Duration = Annotated[
    str | float | None,
    Field(description="Seconds, or a duration such as 90s, 1h30m, 1d."),
]


class CheckIn(StrictIn):
    name: str = Field(
        max_length=100, description="Lower-case letters, digits, '_.-'; the slug of pings."
    )
    period: Duration = None
    cron: str | None = Field(
        default=None, max_length=200, description="Instead of a period: when pings are expected."
    )
    timezone: str | None = Field(default=None, max_length=64, description="Of the cron expression.")
    grace: Duration = None
    description: str | None = Field(default=None, max_length=1000)
    tags: list[str] | None = Field(default=None, max_length=20)


class CheckChangeIn(StrictIn):
    """The fields to change; null: back to the default."""

    name: str | None = Field(default=None, max_length=100)
    period: Duration = None
    cron: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    grace: Duration = None
    description: str | None = Field(default=None, max_length=1000)
    tags: list[str] | None = Field(default=None, max_length=20)


@router.get("", summary="Heartbeat checks with their status")
async def list_checks(
    request: Request,
    principal: Reader,
    tag: Annotated[
        str | None, Query(max_length=50, description="Only checks with this tag.")
    ] = None,
) -> list[CheckOut]:
    """Every check by name, with its status now (`new`, `up`, `late`, `down`, `paused`)."""
    svc = service_for(request, principal)
    return [check_out(v) for v in await svc.checks.list_all(tag=tag)]


@router.post("", status_code=201, summary="Create a heartbeat check")
async def create_check(request: Request, principal: Writer, body: CheckIn) -> CheckOut:
    """A new check (`check.create` in the audit log); 409 when the name is taken. Its `uuid`
    is its ping address: `/ping/{uuid}`."""
    svc = service_for(request, principal)
    data = body.model_dump(exclude_none=True)
    return check_out(await svc.checks.create(data))


@router.get("/{key}", summary="One heartbeat check")
async def get_check(request: Request, principal: Reader, key: CheckKey) -> CheckOut:
    return check_out(await service_for(request, principal).checks.get(key))


@router.patch("/{key}", summary="Change a heartbeat check")
async def update_check(
    request: Request, principal: Writer, key: CheckKey, body: CheckChangeIn
) -> CheckOut:
    """Changes the fields given (null: the default); a cron expression replaces the period
    and the other way round. Checks of tickwork.toml change there only (409)."""
    svc = service_for(request, principal)
    return check_out(await svc.checks.update(key, body.model_dump(exclude_unset=True)))


@router.delete("/{key}", status_code=204, summary="Remove a heartbeat check")
async def delete_check(request: Request, principal: Writer, key: CheckKey) -> Response:
    """Removes the check and its pings (`check.delete`); 409 for a check of tickwork.toml."""
    await service_for(request, principal).checks.delete(key)
    return Response(status_code=204)


@router.post("/{key}/pause", summary="Pause a heartbeat check")
async def pause_check(request: Request, principal: Triggerer, key: CheckKey) -> CheckOut:
    """No alerts while paused; the next ping resumes it (`check.pause`)."""
    return check_out(await service_for(request, principal).checks.pause(key))


@router.post("/{key}/resume", summary="Resume a paused heartbeat check")
async def resume_check(request: Request, principal: Triggerer, key: CheckKey) -> CheckOut:
    """It is watched again from its last ping (`check.resume`)."""
    return check_out(await service_for(request, principal).checks.resume(key))


@router.get("/{key}/pings", summary="A check's pings, newest first")
async def list_pings(
    request: Request,
    principal: Reader,
    key: CheckKey,
    limit: Annotated[int, Query(ge=1, le=PINGS_LIMIT)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The next page: pings before this ID.")
    ] = None,
) -> list[PingOut]:
    """The newest pings kept (100 per check) with their bodies (up to 10 KiB each)."""
    svc = service_for(request, principal)
    _, pings = await svc.checks.pings(key, limit=limit, before_id=before_id)
    return [ping_out(p) for p in pings]
