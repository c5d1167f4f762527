"""Failures grouped by error (``service/failures.py``): the groups of a range, and a whole
group retried or discarded. The same shapes as ``tickwork failures`` (``wire.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tickwork.api.deps import Reader, Triggerer, service_for
from tickwork.domain.failures import FAILURE_LIMIT
from tickwork.service.failures import DEFAULT_SINCE
from tickwork.wire_failures import FailureActionOut, FailuresOut, failures_out

router = APIRouter(prefix="/api/failures", tags=["runs"])

SinceParam = Annotated[
    str,
    Query(
        description="Failed jobs that finished since: a duration back from now ('7d', '12h') or"
        " a time with its UTC offset.",
        max_length=64,
    ),
]
Fingerprint = Annotated[
    str,
    Path(
        pattern="^[0-9a-f]{8,64}$",
        description="A group's fingerprint, or its first 8 or more hex digits.",
    ),
]


@router.get("", summary="Failed jobs grouped by error, newest first")
async def list_failures(
    request: Request,
    principal: Reader,
    since: SinceParam = DEFAULT_SINCE,
    task: Annotated[str | None, Query(description="Only this job.", max_length=200)] = None,
    limit: Annotated[
        int, Query(ge=1, le=FAILURE_LIMIT, description="Failed jobs read, newest first.")
    ] = FAILURE_LIMIT,
) -> FailuresOut:
    """Jobs whose final state is failed or timeout, grouped by the fingerprint of their last
    run's error (type, message with numbers and IDs normalised, top stack frame). Only the
    newest `limit` failed jobs are grouped (`capped` says so); discarded and retried groups'
    failures are left out until the error happens again."""
    svc = service_for(request, principal)
    return failures_out(await svc.failures(since=since, task=task, limit=limit))


@router.post("/{fingerprint}/retry", summary="Run every failed job of a group again")
async def retry_failures(
    request: Request,
    principal: Triggerer,
    fingerprint: Fingerprint,
    since: SinceParam = DEFAULT_SINCE,
) -> FailureActionOut:
    """Each failed job of the group in the range is queued again as a new job (audited as
    `queue_job.retry` each); the group then leaves the list (`failure.retry`)."""
    svc = service_for(request, principal)
    count = await svc.retry_failures(fingerprint, since=since)
    return FailureActionOut(fingerprint=fingerprint, action="retry", jobs=count)


@router.post("/{fingerprint}/discard", summary="Acknowledge a group's failures")
async def discard_failures(
    request: Request,
    principal: Triggerer,
    fingerprint: Fingerprint,
    since: SinceParam = DEFAULT_SINCE,
) -> FailureActionOut:
    """The group's failures leave the list (`failure.discard`); their jobs and runs stay."""
    svc = service_for(request, principal)
    count = await svc.discard_failures(fingerprint, since=since)
    return FailureActionOut(fingerprint=fingerprint, action="discard", jobs=count)
