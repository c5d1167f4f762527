"""How both adapters show failures grouped by error (``tickwork failures``, ``GET
/api/failures``) and what a group's retry or discard did. Kept beside ``wire.py`` (same layer,
same habits) so that it stays one module of one size."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tickwork.wire import Shape

if TYPE_CHECKING:
    from tickwork.domain.failures import FailureGroup, FailureReport


class FailureSampleOut(Shape):
    job_id: int
    run_id: int | None  # its last run; null if it failed without one
    task: str
    finished_at: datetime


class FailureGroupOut(Shape):
    fingerprint: str  # of the error's type, normalised message and top frame
    error_type: str | None
    error_class: str | None
    message: str  # normalised: numbers, IDs and quoted values replaced
    sample_message: str | None  # the newest failure's message as it was
    frame: str | None  # "file:function" of the top stack frame
    count: int  # failed jobs
    first_seen: datetime
    last_seen: datetime
    tasks: dict[str, int]  # failed jobs per task, most first
    samples: list[FailureSampleOut]  # the newest few


def failure_group_out(g: FailureGroup) -> FailureGroupOut:
    return FailureGroupOut(
        fingerprint=g.fingerprint,
        error_type=g.error_type,
        error_class=g.error_class,
        message=g.message,
        sample_message=g.sample_message,
        frame=g.frame,
        count=g.count,
        first_seen=g.first_seen,
        last_seen=g.last_seen,
        tasks=dict(g.tasks),
        samples=[
            FailureSampleOut(
                job_id=r.job_id, run_id=r.run_id, task=r.task_name, finished_at=r.finished_at
            )
            for r in g.samples
        ],
    )


class FailuresOut(Shape):
    start: datetime
    end: datetime
    task: str | None
    read: int  # failed jobs read (acknowledged ones too)
    limit: int
    capped: bool  # more failed jobs in the range than limit: the newest were grouped
    groups: list[FailureGroupOut]  # newest last failure first


def failures_out(r: FailureReport) -> FailuresOut:
    return FailuresOut(
        start=r.start,
        end=r.end,
        task=r.task_name,
        read=r.read,
        limit=r.limit,
        capped=r.capped,
        groups=[failure_group_out(g) for g in r.groups],
    )


class FailureActionOut(Shape):
    fingerprint: str
    action: str  # retry | discard
    jobs: int  # jobs acted on: queued again, or discarded
