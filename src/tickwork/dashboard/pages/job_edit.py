"""Editing a definition made over the API (``/jobs/{name}/edit``): its schedule and the policies
the REST API's PATCH changes, checked by the same use case (``Service.update_task``). An invalid
value comes back as the form, filled in as sent, with the use case's message next to its field
(422). The next fires are listed from the form's values, each with its daylight-saving notes;
``static/preview.js`` refreshes them
as one types, from ``/schedule-preview`` (the session's JSON twin of
``GET /api/schedules/preview``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tickwork.api.deps import get_context, service_for
from tickwork.api.errors import domain_error_response
from tickwork.api.routes.schedules import schedule_preview
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.durations import format_duration
from tickwork.domain.limits import MisfirePolicy, OverlapPolicy
from tickwork.domain.tasks import NAME_PATTERN, Task
from tickwork.errors import ConfigError, ConflictError

router = APIRouter(include_in_schema=False)

Editor = Annotated[Looker, Depends(actor(Scope.JOBS_WRITE))]
JobName = Annotated[str, Path(pattern=NAME_PATTERN)]
PREVIEW_COUNT = 5
# The form's fields, in order: (name, label, hint).
FIELDS = (
    ("schedule", "Schedule", "cron (0 9 * * MON-FRI), @daily or every 10m; empty: none"),
    ("timezone", "Time zone", "IANA name, e.g. Europe/Berlin; empty: UTC"),
    ("timeout", "Timeout", "a duration such as 30s or 5m; empty: none"),
    ("max_retries", "Retries", "how many times a failed run is retried"),
    ("overlap", "Overlap", "while an earlier run is still active"),
    ("misfire", "Misfire", "fires missed while nothing ran"),
    ("priority", "Priority", "higher runs first"),
    ("tags", "Tags", "comma-separated"),
    ("description", "Description", ""),
)
CHOICES = {
    "overlap": [p.value for p in OverlapPolicy],
    "misfire": [p.value for p in MisfirePolicy],
}
INTEGERS = ("max_retries", "priority")


def form_values(task: Task) -> dict[str, str]:
    """The form filled in from a stored definition."""
    d = task.definition
    return {
        "schedule": d.schedule or "",
        "timezone": d.timezone,
        "timeout": "" if d.timeout_seconds is None else format_duration(d.timeout_seconds),
        "max_retries": str(d.retry.max_retries),
        "overlap": d.policies.overlap.value,
        "misfire": d.policies.misfire.value,
        "priority": str(d.priority),
        "tags": ", ".join(d.tags),
        "description": d.description,
    }


def changes_of(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The PATCH changes of a sent form (an empty field removes its key: its default), and
    the fields that are not even of their type, with why."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, _, _ in FIELDS:
        text = form.get(name, "").strip()
        value: Any = text or None
        if name in INTEGERS and text:
            try:
                value = int(text)
            except ValueError:
                errors[name] = f"expected a whole number, got {text[:40]!r}"
                continue
        elif name == "tags" and text:
            value = [t.strip() for t in text.split(",") if t.strip()] or None
        changes[name] = value
    return changes, errors


async def edit_page(
    request: Request,
    task: Task,
    values: Mapping[str, str],
    *,
    errors: Mapping[str, str] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    fires: list[str] = []
    preview_error = None
    if values.get("schedule"):
        try:
            found = schedule_preview(
                values["schedule"],
                values.get("timezone") or "UTC",
                get_context(request).clock.now(),
                PREVIEW_COUNT,
            )
            fires = [
                f"{f.fire_at:%a %Y-%m-%d %H:%M %Z}"
                + (f" — {'; '.join(f.notes)}" if f.notes else "")
                for f in found.items
            ]
            words = found.words
        except ConfigError as exc:
            preview_error, words = exc.reason, ""
    else:
        words = "no schedule: it runs when triggered or enqueued"
    return render(
        request,
        "job_edit.html",
        {
            "task": task,
            "fields": FIELDS,
            "choices": CHOICES,
            "values": values,
            "errors": errors or {},
            "problem": problem,
            "fires": fires,
            "words": words,
            "preview_error": preview_error,
        },
        status_code=status_code,
    )


@router.get("/jobs/{name}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, who: LookerDep, name: JobName) -> HTMLResponse:
    task = await get_context(request).service.get_task(name)
    return await edit_page(request, task, form_values(task))


@router.post("/jobs/{name}/edit", response_model=None)
async def save(request: Request, name: JobName, who: Editor) -> HTMLResponse | RedirectResponse:
    svc = service_for(request, who.principal)
    task = await svc.get_task(name)
    form = await form_of(request)
    values = {field: form.get(field, "") for field, _, _ in FIELDS}
    changes, errors = changes_of(form)
    try:
        # Every field's problem at once, not one per try (the API's PATCH names the first).
        problems = await svc.task_change_problems(name, changes)
        for exc in problems:
            field = (exc.field or "").split(".")[0]
            if field in values:
                errors.setdefault(field, exc.reason)
        if errors:
            return await edit_page(request, task, values, errors=errors, status_code=422)
        if problems:
            return await edit_page(request, task, values, problem=str(problems[0]), status_code=422)
        await svc.update_task(name, changes)
    except ConfigError as exc:  # changed meanwhile by someone else, into something invalid
        return await edit_page(request, task, values, problem=str(exc), status_code=422)
    except ConflictError as exc:  # defined in code or tickwork.toml
        return await edit_page(request, task, values, problem=str(exc), status_code=409)
    return redirect(f"/jobs/{name}")


@router.get("/schedule-preview", response_model=None)
async def preview_json(
    request: Request,
    who: LookerDep,
    expression: Annotated[str, Query(max_length=200)] = "",
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
    count: Annotated[int, Query(ge=1, le=50)] = PREVIEW_COUNT,
) -> Response:
    """The next fires of an expression being typed, for ``preview.js`` (JSON, even errors)."""
    try:
        found = schedule_preview(
            expression, timezone or "UTC", get_context(request).clock.now(), count
        )
    except ConfigError as exc:
        return domain_error_response(exc)
    return JSONResponse(found.model_dump(mode="json"))
