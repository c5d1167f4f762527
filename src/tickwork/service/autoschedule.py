"""``AutoSchedules``: what auto-rescheduling changed of a job's schedule, and undoing it (one
use case for the CLI, the API and the dashboard), audited as ``job.undo_reschedule``."""

from __future__ import annotations

from tickwork.domain.autoschedule import UNDO, Override, OverrideWrite
from tickwork.domain.tasks import Task
from tickwork.errors import ConflictError, InvalidStateError
from tickwork.runtime.autoscheduler import next_fire, override_entry
from tickwork.service.audit import current_request_id
from tickwork.service.context import Context
from tickwork.service.definitions import task_named


class AutoSchedules:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def undo(self, name: str) -> Task:
        """Give the job back its defined schedule: the override (stretch, offset, breaker)
        reset. The rules start counting runs afresh from now, so the same evidence does not
        change the schedule again at once (``autoschedule = false`` on the job stops them)."""
        ctx = self.ctx
        task = await task_named(ctx, name)
        if not task.auto.active:
            raise InvalidStateError(f"job {name!r}: auto-rescheduling changed nothing to undo")
        now = ctx.clock.now()
        restored = Override(changed_at=now)
        entry = override_entry(
            task,
            UNDO,
            task.auto,
            {"effective": "as defined", **restored.to_dict()},
            now,
            ctx.actor.name,
            ctx.request_id or current_request_id.get(),
        )
        write = OverrideWrite(name, task.auto, restored, next_fire(task, restored, now), entry)
        (applied,) = await ctx.store.write_overrides([write])
        if not applied:
            raise ConflictError(f"job {name!r}: its schedule changed meanwhile; try again")
        ctx.schedules_changed()
        return await task_named(ctx, name)
