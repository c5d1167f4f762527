"""What a job definition's controls do: trigger now, enable, disable, delete, undo an
auto-rescheduling. Each acts through the service for the looker (audited with their name) and
comes back to the page it came from. Enabling and disabling need the trigger scope, undoing an
auto-rescheduling the write scope (as editing), as over the REST API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from tickwork.api.deps import service_for
from tickwork.dashboard.web import Looker, actor, form_of, local_path, redirect
from tickwork.domain.access import Scope
from tickwork.domain.durations import parse_time_or_duration
from tickwork.domain.jobs import TriggeredBy

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
Writer = Annotated[Looker, Depends(actor(Scope.JOBS_WRITE))]


async def back(request: Request, default: str) -> RedirectResponse:
    """To the page named by the form's ``back`` field (a local path), else ``default``."""
    return redirect(local_path((await form_of(request)).get("back"), default))


@router.post("/jobs/{name}/trigger")
async def trigger(request: Request, name: str, who: Triggerer) -> RedirectResponse:
    job_id = await service_for(request, who.principal).trigger(
        name, triggered_by=TriggeredBy.MANUAL
    )
    return await back(request, f"/queue/{job_id}")


@router.post("/jobs/{name}/enable")
async def enable(request: Request, name: str, who: Triggerer) -> RedirectResponse:
    await service_for(request, who.principal).set_enabled(name, True)
    return await back(request, f"/jobs/{name}")


@router.post("/jobs/{name}/disable")
async def disable(request: Request, name: str, who: Triggerer) -> RedirectResponse:
    await service_for(request, who.principal).set_enabled(name, False)
    return await back(request, f"/jobs/{name}")


@router.post("/jobs/{name}/delete")
async def delete(request: Request, name: str, who: Writer) -> RedirectResponse:
    """Only definitions made over the API: the use case refuses others (409, with where the
    definition lives), shown as the error page."""
    await service_for(request, who.principal).delete_task(name)
    return redirect("/jobs")


@router.post("/jobs/{name}/pause")
async def pause(request: Request, name: str, who: Triggerer) -> RedirectResponse:
    """Pause with the form's reason and optional ``until`` (a duration from now such as
    ``2h``, or an ISO time with an offset); a bad value is the error page naming it."""
    form = await form_of(request)
    service = service_for(request, who.principal)
    text = form.get("until", "").strip()
    until = None if not text else parse_time_or_duration(text, "until", service.clock.now())
    await service.pause_task(name, form.get("reason", ""), until)
    return await back(request, f"/jobs/{name}")


@router.post("/jobs/{name}/resume")
async def resume(request: Request, name: str, who: Triggerer) -> RedirectResponse:
    await service_for(request, who.principal).resume_task(name)
    return await back(request, f"/jobs/{name}")


@router.post("/jobs/{name}/undo-reschedule")
async def undo_reschedule(request: Request, name: str, who: Writer) -> RedirectResponse:
    await service_for(request, who.principal).undo_reschedule(name)
    return await back(request, f"/jobs/{name}")
