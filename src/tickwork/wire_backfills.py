"""How both adapters show backfills (``tickwork backfill``, ``/api/jobs/{name}/backfill``,
``/api/backfills``): a backfill with its progress, what a backfill or its dry run made of a
range, what a cancel did. Kept beside ``wire.py`` (same layer, same habits)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tickwork.wire import Shape

if TYPE_CHECKING:
    from tickwork.domain.backfills import Backfill, BackfillResult


class BackfillOut(Shape):
    id: int
    task: str
    range_from: datetime
    range_to: datetime
    overlap: str  # queue (one at a time, in fire order) or allow (all at once)
    max_fires: int
    fires: int  # of the range
    created: int  # jobs this backfill created
    present: int  # fires that already had a job, not repeated
    state: str  # running, done or cancelled
    pending: int
    running: int
    succeeded: int
    failed: int  # failed or timed out
    cancelled: int  # cancelled or skipped
    requested_by: str | None
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None


def backfill_out(b: Backfill) -> BackfillOut:
    c = b.counts
    return BackfillOut(
        id=b.id,
        task=b.task_name,
        range_from=b.range_start,
        range_to=b.range_end,
        overlap=b.overlap.value,
        max_fires=b.max_fires,
        fires=b.fires,
        created=b.created,
        present=b.present,
        state=b.state,
        pending=c.pending,
        running=c.running,
        succeeded=c.succeeded,
        failed=c.failed,
        cancelled=c.cancelled,
        requested_by=b.requested_by,
        created_at=b.created_at,
        cancelled_at=b.cancelled_at,
        cancelled_by=b.cancelled_by,
    )


class BackfillResultOut(Shape):
    task: str
    dry_run: bool
    fires: list[datetime]  # every fire of the range, in UTC, in order
    created: int  # jobs created (a dry run: that would be created)
    present: int  # fires that already had a job: not repeated
    backfill: BackfillOut | None  # null for a dry run, or when nothing was created


def backfill_result_out(r: BackfillResult) -> BackfillResultOut:
    return BackfillResultOut(
        task=r.task_name,
        dry_run=r.dry_run,
        fires=list(r.fires),
        created=r.created,
        present=r.present,
        backfill=None if r.backfill is None else backfill_out(r.backfill),
    )


class BackfillCancelOut(Shape):
    backfill: BackfillOut
    cancelled_jobs: int  # pending jobs cancelled; running ones finish


def result_text(r: BackfillResult) -> str:
    """One line for people: what a backfill (or its dry run) made of its range."""
    verb = "would create" if r.dry_run else "created"
    ident = "" if r.backfill is None else f"backfill {r.backfill.id}: "
    return (
        f"{ident}{len(r.fires)} fire(s) of {r.task_name!r} in the range;"
        f" {verb} {r.created} job(s), already present {r.present}"
    )
