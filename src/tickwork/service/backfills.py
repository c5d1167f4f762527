"""``Backfills``: run a schedule for a past range (each fire one job carrying its fire time,
triggered by ``backfill``; a dry run says what it would make), list backfills with their
progress, cancel one as a whole. Audited (``job.backfill``, ``backfill.cancel``)."""

from __future__ import annotations

from datetime import UTC, datetime

from tickwork.domain.backfills import (
    Backfill,
    BackfillResult,
    NewBackfill,
    check_max,
    check_range,
    fires_between,
    over_cap,
    overlap_of,
)
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.schedules import parse_schedule
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.definitions import task_named
from tickwork.service.queries import check_limit

DEFAULT_LIST_LIMIT = 50


class Backfills:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def backfill(
        self,
        name: str,
        start: datetime,
        end: datetime,
        *,
        overlap: str = "queue",
        max_fires: int | None = None,
        dry_run: bool = False,
    ) -> BackfillResult:
        """One job per fire of the job's schedule with ``start <= fire <= end`` (its own walk
        in its timezone), each carrying its fire time; fires that already have a job (a
        scheduled run, an earlier backfill) are not repeated. A range over the cap
        (``max_fires``, default ``DEFAULT_MAX_FIRES``) is refused with its count; nothing is
        created then. ``ConfigError`` naming the field for bad input, ``NotFoundError`` for
        an unknown job."""
        ctx = self.ctx
        mode = overlap_of(overlap)
        cap = check_max(max_fires)
        task = await task_named(ctx, name)
        d = task.definition
        if task.removed:
            raise ConfigError("was removed from the definitions; it cannot be backfilled", job=name)
        if d.schedule is None:
            raise ConfigError(
                "has no schedule; a backfill runs a schedule's past fires",
                job=name,
                field="schedule",
            )
        now = ctx.clock.now()
        check_range(start, end, now)
        schedule = parse_schedule(d.schedule, d.timezone)
        fires = fires_between(schedule, start, end, cap)
        if len(fires) > cap:
            raise ConfigError(over_cap(schedule, name, start, end, cap), job=name, field="max")
        if dry_run or not fires:
            present = await ctx.store.present_fires(name, fires) if fires else 0
            return BackfillResult(name, tuple(fires), len(fires) - present, present, dry_run)
        new = NewBackfill(
            task_name=name,
            range_start=start.astimezone(UTC),
            range_end=end.astimezone(UTC),
            overlap=mode,
            max_fires=cap,
            requested_by=ctx.actor.requester,
            created_at=now,
            fires=tuple(fires),
        )
        new_jobs = [
            NewJob(
                task_name=name,
                scheduled_at=now,
                triggered_by=TriggeredBy.BACKFILL,
                max_attempts=d.max_attempts,
                args=list(d.args),
                kwargs=dict(d.kwargs),
                priority=d.priority,
                fire_at=f,
                requested_by=ctx.actor.requester,
            )
            for f in fires
        ]
        backfill, ids = await ctx.store.create_backfill(new, new_jobs, now)
        created = len(ids)
        result = BackfillResult(name, tuple(fires), created, len(fires) - created, False, backfill)
        ctx.work_queued()
        await ctx.audit(
            "job.backfill",
            "job",
            name,
            after={
                "backfill_id": None if backfill is None else backfill.id,
                "from": new.range_start.isoformat(),
                "to": new.range_end.isoformat(),
                "overlap": mode.value,
                "fires": len(fires),
                "created": created,
                "present": result.present,
            },
        )
        return result

    async def list_backfills(
        self, task_name: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[Backfill]:
        """The newest backfills (of one job, or all) with their jobs' progress."""
        check_limit(limit)
        if task_name is not None:
            await task_named(self.ctx, task_name)
        return await self.ctx.store.list_backfills(task_name, limit)

    async def get(self, backfill_id: int) -> Backfill:
        found = await self.ctx.store.get_backfill(backfill_id)
        if found is None:
            raise NotFoundError(f"no backfill with ID {backfill_id}")
        return found

    async def cancel(self, backfill_id: int) -> tuple[Backfill, int]:
        """Cancel the backfill's pending jobs (those waiting for their turn or a worker, and
        retrying ones); running jobs finish. ``InvalidStateError`` if it was cancelled
        already. The backfill after it and the number of jobs cancelled; audited."""
        ctx = self.ctx
        before = await self.get(backfill_id)
        if before.cancelled_at is not None:
            raise InvalidStateError(
                f"backfill {backfill_id} was cancelled already ({before.cancelled_at.isoformat()})"
            )
        found = await ctx.store.cancel_backfill(
            backfill_id, ctx.clock.now(), ctx.actor.name, f"backfill {backfill_id} cancelled"
        )
        if found is None:
            raise NotFoundError(f"no backfill with ID {backfill_id}")
        backfill, cancelled = found
        await ctx.audit(
            "backfill.cancel",
            "backfill",
            str(backfill_id),
            before={"state": before.state, "pending": before.counts.pending},
            after={"task": backfill.task_name, "cancelled_jobs": cancelled},
        )
        return backfill, cancelled
