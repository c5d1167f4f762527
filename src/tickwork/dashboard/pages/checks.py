"""Heartbeat checks (``/checks``): every check with its status, last ping and the next one
expected, pause and resume for those who may trigger, and a form to create one for those who
may write (an invalid value comes back with the use case's message next to its field, 422);
a check's page (``/checks/{name}``) with its ping address and newest pings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context, service_for
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.checks import NAME_PATTERN
from tickwork.errors import ConfigError, ConflictError

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
Writer = Annotated[Looker, Depends(actor(Scope.JOBS_WRITE))]
CheckName = Annotated[str, Path(pattern=NAME_PATTERN)]
PINGS = 50
# The create form's fields, in order: (name, label, hint).
FIELDS = (
    ("name", "Name", "lower-case letters, digits, '_.-'; also the slug of /ping/KEY/NAME"),
    ("period", "Period", "how often pings come, e.g. 1h or 1d (or give a cron expression)"),
    ("cron", "Cron expression", "instead of a period, e.g. 0 3 * * *"),
    ("timezone", "Time zone", "of the cron expression; empty: UTC"),
    ("grace", "Grace time", "how late a ping may be, e.g. 15m; empty: 1h"),
    ("tags", "Tags", "comma-separated"),
    ("description", "Description", ""),
)
FLASH = {
    "created": "Check created: call its ping address from the job.",
    "paused": "Paused: no alerts until it is resumed or pinged.",
    "resumed": "Resumed.",
}


async def checks_page(
    request: Request,
    values: Mapping[str, str] | None = None,
    *,
    errors: Mapping[str, str] | None = None,
    flash: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    views = await get_context(request).service.checks.list_all()
    order = {"down": 0, "late": 1, "up": 2, "new": 3, "paused": 4}
    views.sort(key=lambda v: (order[v.state.status.value], v.check.name))
    return render(
        request,
        "checks.html",
        {
            "checks": views,
            "fields": FIELDS,
            "values": values or {},
            "errors": errors or {},
            "flash": flash,
        },
        status_code=status_code,
    )


@router.get("/checks", response_class=HTMLResponse)
async def checks(
    request: Request,
    who: LookerDep,
    done: Annotated[Literal["paused", "resumed"] | None, Query()] = None,
) -> HTMLResponse:
    return await checks_page(request, flash=FLASH.get(done or ""))


@router.post("/checks", response_model=None)
async def create(request: Request, who: Writer) -> HTMLResponse | RedirectResponse:
    form = await form_of(request)
    values = {name: form.get(name, "").strip() for name, _, _ in FIELDS}
    data: dict[str, Any] = {k: v for k, v in values.items() if v and k != "tags"}
    tags = [t.strip() for t in values["tags"].split(",") if t.strip()]
    if tags:
        data["tags"] = tags
    try:
        view = await service_for(request, who.principal).checks.create(data)
    except ConfigError as exc:
        field = (exc.field or "").split(".")[0].split("[")[0]
        errors = {field if field in values else "name": exc.reason}
        return await checks_page(request, values, errors=errors, status_code=422)
    except ConflictError as exc:
        return await checks_page(request, values, errors={"name": str(exc)}, status_code=409)
    return redirect(f"/checks/{view.check.name}?done=created")


@router.get("/checks/{name}", response_class=HTMLResponse)
async def check_page(
    request: Request,
    who: LookerDep,
    name: CheckName,
    done: Annotated[Literal["created", "paused", "resumed"] | None, Query()] = None,
) -> HTMLResponse:
    view, pings = await get_context(request).service.checks.pings(name, limit=PINGS)
    return render(
        request,
        "check.html",
        {"view": view, "pings": pings, "flash": FLASH.get(done or "")},
    )


@router.post("/checks/{name}/pause")
async def pause(request: Request, name: CheckName, who: Triggerer) -> RedirectResponse:
    await service_for(request, who.principal).checks.pause(name)
    return redirect(await _back(request, name, "paused"))


@router.post("/checks/{name}/resume")
async def resume(request: Request, name: CheckName, who: Triggerer) -> RedirectResponse:
    await service_for(request, who.principal).checks.resume(name)
    return redirect(await _back(request, name, "resumed"))


async def _back(request: Request, name: str, done: str) -> str:
    """Back to the page the button was on: the list, or the check's page."""
    on_list = (await form_of(request)).get("from") == "list"
    return f"/checks?done={done}" if on_list else f"/checks/{name}?done={done}"
