"""Job definitions: list, create, show, change, delete, enable/disable, pause/resume, trigger,
preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from tickwork.api.deps import (
    TRIGGER_SECRET,
    Auditor,
    Reader,
    Triggerer,
    Writer,
    get_context,
    require,
    service_for,
)
from tickwork.api.schemas.common import CursorPage, CursorParam, LimitParam, reject_nul
from tickwork.api.schemas.definitions import (
    BulkIn,
    BulkOut,
    FireOut,
    JobOut,
    JobPage,
    LastStatus,
    PauseIn,
    TriggeredOut,
    job_out,
)
from tickwork.domain.access import AuditQuery, Principal, Scope
from tickwork.domain.jobs import TriggeredBy
from tickwork.domain.tasks import NAME_PATTERN, Task, TaskKind
from tickwork.service.facade import Service
from tickwork.service.queries import RunQuery, TaskFilter
from tickwork.wire import AuditOut, RunOut, audit_out, queue_job_out, run_out

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

JobName = Annotated[str, Path(pattern=NAME_PATTERN, description="A job definition's name.")]
Table = Annotated[
    dict[str, Any],
    Body(
        description="A [[jobs]] table of tickwork.toml as JSON.",
        examples=[
            {
                "name": "ping-example",
                "schedule": "*/5 * * * *",
                "http": {"url": "https://example.com/health"},
            }
        ],
    ),
]


def _out(svc: Service, task: Task) -> JobOut:
    return job_out(task, svc.task_table(task))


@router.get("", summary="List job definitions")
async def list_jobs(
    request: Request,
    principal: Reader,
    name: Annotated[str | None, Query(description="Part of the name.", max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    kind: TaskKind | None = None,
    enabled: bool | None = None,
    removed: bool | None = None,
    paused: bool | None = None,
    status: Annotated[
        LastStatus | None,
        Query(
            description="The status of the job's most recent run ('never': no run yet;"
            " 'failing': failed or timed out)."
        ),
    ] = None,
    sort: Literal["name", "next_fire_at", "updated_at"] = "name",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: LimitParam = 50,
) -> JobPage:
    svc = service_for(request, principal)
    query = TaskFilter(
        name=name,
        tag=tag,
        kind=kind,
        enabled=enabled,
        removed=removed,
        paused=paused,
        last_status=status,
        sort=sort,
    )
    found = await svc.search_tasks(query, offset=(page - 1) * limit, limit=limit)
    items = [job_out(t, svc.task_table(t), found.last.get(t.name)) for t in found.tasks]
    return JobPage(items=items, page=page, limit=limit, total=found.total)


@router.post("", status_code=201, summary="Create a job definition")
async def create_job(request: Request, principal: Writer, table: Table) -> JobOut:
    svc = service_for(request, principal)
    return _out(svc, await svc.create_task(reject_nul(table)))


@router.post("/bulk", summary="Enable, disable or trigger every definition a filter selects")
async def bulk_jobs(request: Request, principal: Triggerer, body: BulkIn) -> BulkOut:
    """Acts on the whole selection (not a page), each definition audited on its own."""
    svc = service_for(request, principal)
    f = body.filter
    query = TaskFilter(name=f.name, tag=f.tag, kind=f.kind, enabled=f.enabled, last_status=f.status)
    report = await svc.bulk_tasks(query, body.action, triggered_by=TriggeredBy.API)
    return BulkOut(
        action=report.action,
        changed=report.changed,
        unchanged=report.unchanged,
        job_ids=report.job_ids,
    )


@router.get("/{name}", summary="A job definition and its state")
async def get_job(request: Request, principal: Reader, name: JobName) -> JobOut:
    svc = service_for(request, principal)
    task = await svc.get_task(name)
    latest = await svc.history(name, limit=1)
    return job_out(task, svc.task_table(task), latest[0].status if latest else None)


@router.patch("/{name}", summary="Change a definition made over the API")
async def update_job(request: Request, principal: Writer, name: JobName, changes: Table) -> JobOut:
    svc = service_for(request, principal)
    return _out(svc, await svc.update_task(name, reject_nul(changes)))


@router.delete("/{name}", summary="Delete a definition made over the API (history is kept)")
async def delete_job(request: Request, principal: Writer, name: JobName) -> JobOut:
    svc = service_for(request, principal)
    return _out(svc, await svc.delete_task(name))


@router.post("/{name}/enable", summary="Enable a job's schedule")
async def enable_job(request: Request, principal: Triggerer, name: JobName) -> JobOut:
    svc = service_for(request, principal)
    return _out(svc, await svc.set_enabled(name, True))


@router.post("/{name}/disable", summary="Disable a job's schedule")
async def disable_job(request: Request, principal: Triggerer, name: JobName) -> JobOut:
    svc = service_for(request, principal)
    return _out(svc, await svc.set_enabled(name, False))


@router.post("/{name}/pause", summary="Pause a job's schedule, with a reason")
async def pause_job(request: Request, principal: Triggerer, name: JobName, body: PauseIn) -> JobOut:
    """Its fires are missed fires (`paused`) until `until` (null: until resumed); it can still
    be triggered, and jobs already queued are not affected. Pausing a paused job replaces its
    reason and `until`."""
    svc = service_for(request, principal)
    return _out(svc, await svc.pause_task(name, body.reason, body.until))


@router.post("/{name}/resume", summary="End a job's pause")
async def resume_job(request: Request, principal: Triggerer, name: JobName) -> JobOut:
    """Its schedule goes on from now; the fires of the pause are not replayed. A job that is
    not paused is left as it is."""
    svc = service_for(request, principal)
    return _out(svc, await svc.resume_task(name))


@router.post("/{name}/undo-reschedule", summary="Undo what auto-rescheduling changed")
async def undo_reschedule(request: Request, principal: Writer, name: JobName) -> JobOut:
    """The job's defined schedule back: the stretched interval, the spread offset and the
    circuit breaker reset (audited `job.undo_reschedule`). 409 when nothing was changed."""
    svc = service_for(request, principal)
    return _out(svc, await svc.undo_reschedule(name))


@router.post("/{name}/trigger", status_code=202, summary="Run a job now")
async def trigger_job(
    request: Request,
    principal: Annotated[Principal, Depends(require(Scope.JOBS_TRIGGER, trigger_secret=True))],
    name: JobName,
) -> TriggeredOut:
    """Queues a run ahead of scheduled work; also accepts the `[api] trigger_secret` as the
    bearer token, for external schedulers."""
    svc = service_for(request, principal)
    by = TriggeredBy.WEBHOOK if principal is TRIGGER_SECRET else TriggeredBy.API
    job_id = await svc.trigger(name, triggered_by=by)
    return TriggeredOut(job_id=job_id, job=queue_job_out(await svc.get_job(job_id)))


@router.get("/{name}/next", summary="The next fire times")
async def next_fires(
    request: Request,
    principal: Reader,
    name: JobName,
    count: Annotated[int, Query(ge=1, le=100)] = 5,
) -> list[FireOut]:
    svc = service_for(request, principal)
    now = get_context(request).clock.now()
    fires = await svc.preview_job_noted(name, now, count)
    return [FireOut(fire_at=f.fire_at, runs_at=f.runs_at, notes=list(f.notes)) for f in fires]


@router.get("/{name}/runs", summary="Runs of a job, newest first")
async def job_runs(
    request: Request,
    principal: Reader,
    name: JobName,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> CursorPage[RunOut]:
    svc = service_for(request, principal)
    await svc.get_task(name)  # 404 for an unknown job rather than an empty page
    runs = await svc.query_runs(RunQuery(task_name=name, before_id=cursor, limit=limit))
    next_cursor = runs[-1].id if len(runs) == limit else None
    return CursorPage[RunOut](items=[run_out(r) for r in runs], next_cursor=next_cursor)


@router.get("/{name}/changes", summary="Who changed a job definition, and how")
async def job_changes(
    request: Request,
    principal: Auditor,
    name: JobName,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> CursorPage[AuditOut]:
    """Audit entries about this definition (``job.create``, ``job.update``, ``job.delete``...),
    newest first, with the definition before and after each change."""
    svc = service_for(request, principal)
    entries = await svc.audit_log(
        AuditQuery(target_type="job", target=name, action="job.", before_id=cursor, limit=limit)
    )
    next_cursor = entries[-1].id if len(entries) == limit else None
    return CursorPage[AuditOut](items=[audit_out(e) for e in entries], next_cursor=next_cursor)
