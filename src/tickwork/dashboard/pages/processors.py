"""Processors (``/processors``): every tickwork process with its heartbeat and running jobs
(live ones first, stopped ones folded away), and the cluster-wide run-time control: pause,
resume, batch size, concurrency and the default timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.durations import format_duration, parse_duration
from tickwork.errors import ConfigError
from tickwork.service.control import SETTINGS
from tickwork.service.queries import ControlState

router = APIRouter(include_in_schema=False)

Controller = Annotated[Looker, Depends(actor(Scope.PROCESSOR))]
# Stopped processors shown (most recently started first); each restart leaves one behind.
STOPPED_SHOWN = 50


@router.get("/processors", response_class=HTMLResponse)
async def processors(request: Request, who: LookerDep) -> HTMLResponse:
    return await _page(request)


async def _page(
    request: Request,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = get_context(request)
    status = await ctx.service.status(heartbeat_interval_seconds=ctx.heartbeat_interval_seconds)
    control = await ctx.control.get()
    newest_first = sorted(status.processors, key=lambda p: p.info.started_at, reverse=True)
    live = [p for p in newest_first if p.state != "stopped"]
    stopped = [p for p in newest_first if p.state == "stopped"]
    return render(
        request,
        "processors.html",
        {
            "live": live,
            "stopped": stopped[:STOPPED_SHOWN],
            "stopped_count": len(stopped),
            "unregistered": status.unregistered,
            "control": control,
            "values": values if values is not None else _form_values(control),
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _form_values(control: ControlState) -> dict[str, str]:
    """The settings form filled with the current control state (empty: the process's own)."""
    timeout = control.default_timeout_seconds
    return {
        "batch_size": "" if control.batch_size is None else str(control.batch_size),
        "max_concurrent_jobs": (
            "" if control.max_concurrent_jobs is None else str(control.max_concurrent_jobs)
        ),
        "default_timeout_seconds": _timeout_text(timeout),
    }


def _timeout_text(seconds: float | None) -> str:
    # Whole seconds read best as "5m"; a fraction stays a number so a re-sent form keeps it.
    if seconds is None:
        return ""
    return format_duration(seconds) if seconds == int(seconds) else f"{seconds:g}"


@router.post("/processors/pause")
async def pause(request: Request, who: Controller) -> RedirectResponse:
    await get_context(request).control.pause(actor=who.principal)
    return redirect("/processors")


@router.post("/processors/resume")
async def resume(request: Request, who: Controller) -> RedirectResponse:
    await get_context(request).control.resume(actor=who.principal)
    return redirect("/processors")


# The settings form posts to the page's own path, so a page shown again with its errors
# still refreshes its live parts from the right address.
@router.post("/processors", response_model=None)
async def configure(request: Request, who: Controller) -> HTMLResponse | RedirectResponse:
    """Set the fields filled in; an emptied field goes back to each process's own setting."""
    form = await form_of(request)
    values = {name: form.get(name, "").strip() for name in SETTINGS}
    try:
        batch = _whole(values["batch_size"], "batch_size")
        concurrency = _whole(values["max_concurrent_jobs"], "max_concurrent_jobs")
        timeout_text = values["default_timeout_seconds"]
        timeout = (
            parse_duration(timeout_text, field="default_timeout_seconds") if timeout_text else None
        )
        await get_context(request).control.configure(
            batch_size=batch,
            max_concurrent_jobs=concurrency,
            default_timeout_seconds=timeout,
            clear=frozenset(name for name, text in values.items() if not text),
            actor=who.principal,
        )
    except ConfigError as exc:
        errors = {exc.field if exc.field in SETTINGS else "form": exc.reason}
        return await _page(request, values=values, errors=errors, status_code=422)
    return redirect("/processors")


def _whole(text: str, field: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"must be a whole number, got {text!r}", field=field) from None
