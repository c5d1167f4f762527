"""The use cases of job definitions: sync a process's definitions, register a producer's
missing ones, read and search them, enable or disable them, pause and resume them, preview
their fires, and create, change or delete those made over the API (source ``api``) as
``[[jobs]]`` tables. The rules they apply are in ``definition_rules``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tickwork.config.jobs import definition_table, parse_job_table
from tickwork.domain.activity import MissedReason, NewMissedFire, missed_between
from tickwork.domain.fire_notes import NotedFire, noted_fires
from tickwork.domain.jobs import TriggeredBy
from tickwork.domain.queries import SyncReport, TaskFilter, TaskPage
from tickwork.domain.schedules import Schedule, load_timezone, next_fires, parse_schedule
from tickwork.domain.tasks import Task, TaskDefinition, TaskPause, TaskSource, new_pause
from tickwork.errors import ConfigError, ConflictError, NotFoundError
from tickwork.service.audit import Change
from tickwork.service.context import Context
from tickwork.service.definition_rules import (
    audit_table,
    calendar_of,
    check_api_changeable,
    check_api_definable,
    first_fire,
    sync_changes,
    taken_message,
    validate_definitions,
)

BULK_ACTIONS = ("enable", "disable", "trigger")


@dataclass(frozen=True)
class BulkReport:
    """What ``Definitions.bulk`` did: the tasks acted on (with the triggered jobs' IDs, in the
    same order) and those already in the state asked for."""

    action: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)


async def task_named(ctx: Context, name: str) -> Task:
    """The stored task ``name`` (removed ones too); ``NotFoundError`` if there is none."""
    task = await ctx.store.get_task(name)
    if task is None:
        raise NotFoundError(f"no job named {name!r}")
    return task


class Definitions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def sync(
        self, definitions: Sequence[TaskDefinition], sources: Sequence[TaskSource]
    ) -> SyncReport:
        """Validate all definitions, then make the store match them in one transaction. Each
        change is audited as made by the context's actor (a processor: ``processor:<id>``)."""
        ctx = self.ctx
        stored = await ctx.store.list_tasks(include_removed=False)
        others = [t.definition for t in stored if t.definition.source not in sources]
        validate_definitions(definitions, ctx.resolve, others=others)
        now = ctx.clock.now()
        fires = {d.name: first_fire(d, now) for d in definitions}
        report = await ctx.store.sync_tasks(definitions, sources, fires, now)
        ctx.schedules_changed()
        await ctx.audit_all(sync_changes(definitions, report))
        return report

    async def register_missing(self, definitions: Sequence[TaskDefinition]) -> list[str]:
        """Create the ``definitions`` the store lacks, so that a producer (the Python app, a
        CLI command with a config) can enqueue, trigger and list the jobs it knows before any
        process has synced them; returns the names created (audited as ``job.create``).

        Never changes or removes a stored task: what a definition is, once stored, is decided
        by the start-up sync of the processes that run it. Safe to race with those syncs and
        with other producers. The task functions are not imported here (a producer need not
        be able to)."""
        if not definitions:
            return []
        ctx = self.ctx
        known = {t.name for t in await ctx.store.get_tasks([d.name for d in definitions])}
        missing = [d for d in definitions if d.name not in known]
        if not missing:
            return []
        validate_definitions(missing, resolve=None)
        now = ctx.clock.now()
        fires = {d.name: first_fire(d, now) for d in missing}
        created = set(await ctx.store.add_missing_tasks(missing, fires, now))
        if created:
            ctx.schedules_changed()
        await ctx.audit_all(
            [
                Change("job.create", "job", d.name, after=audit_table(d))
                for d in missing
                if d.name in created
            ]
        )
        return [d.name for d in missing if d.name in created]

    async def get(self, name: str) -> Task:
        return current(await task_named(self.ctx, name), self.ctx.clock.now())

    async def tasks(self, *, include_removed: bool = True) -> list[Task]:
        now = self.ctx.clock.now()
        return [
            current(t, now)
            for t in await self.ctx.store.list_tasks(include_removed=include_removed)
        ]

    async def search(
        self,
        query: TaskFilter,
        *,
        after: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        with_last: bool = True,
    ) -> TaskPage:
        """A page of the definitions ``query`` selects, in its order (``Store.search_tasks``:
        ``limit`` None is all of them; ``after`` a name, the keyset of the name order), with
        the latest run's status of each task on the page when ``with_last``."""
        ctx = self.ctx
        now = ctx.clock.now()
        found = await ctx.store.search_tasks(query, now, after=after, offset=offset, limit=limit)
        page = [current(t, now) for t in found.tasks]
        last = await ctx.store.last_run_statuses([t.name for t in page]) if with_last else {}
        return TaskPage(page, found.total, found.more, last)

    async def set_enabled(self, name: str, enabled: bool) -> Task:
        ctx = self.ctx
        task = await self.get(name)
        now = ctx.clock.now()
        defn = dataclasses.replace(task.definition, enabled=enabled)
        next_fire = None if task.removed else first_fire(defn, now)
        if task.definition.enabled and enabled and task.next_fire_at is not None:
            next_fire = task.next_fire_at  # already enabled: keep its rhythm
        updated = await ctx.store.set_task_enabled(name, enabled, next_fire, now)
        ctx.schedules_changed()
        assert updated is not None
        if enabled and not task.definition.enabled and not task.removed:
            await self._record_disabled_fires(task, now)
        await ctx.audit(
            "job.enable" if enabled else "job.disable",
            "job",
            name,
            before={"enabled": task.definition.enabled},
            after={"enabled": enabled},
        )
        return updated

    async def bulk(
        self,
        query: TaskFilter,
        action: str,
        *,
        triggered_by: TriggeredBy = TriggeredBy.MANUAL,
    ) -> BulkReport:
        """Enable, disable or trigger every live definition ``query`` selects (not one page of
        them), each audited on its own as the single action is."""
        if action not in BULK_ACTIONS:
            raise ConfigError(
                f"unknown action {action!r}; actions are {', '.join(BULK_ACTIONS)}",
                field="action",
            )
        selected = await self.search(dataclasses.replace(query, removed=False), with_last=False)
        tasks = selected.tasks
        if action == "trigger":
            from tickwork.service.jobs import Jobs  # jobs imports this module

            ids = await Jobs(self.ctx).trigger_many(tasks, triggered_by) if tasks else []
            return BulkReport(action, [t.name for t in tasks], [], ids)
        enabled = action == "enable"
        report = BulkReport(action)
        for task in tasks:
            if task.definition.enabled is enabled:
                report.unchanged.append(task.name)
            else:
                await self.set_enabled(task.name, enabled)
                report.changed.append(task.name)
        return report

    async def pause(self, name: str, reason: str, until: datetime | None = None) -> Task:
        """Hold a job's schedule back, with a ``reason``, until ``until`` (None: until resumed).

        Each fire meanwhile becomes a missed fire ``paused`` (not replayed), recorded as the
        pause ends: at ``resume``, or by the scheduler once ``until`` has come (a fire at
        ``until`` runs). Triggering by hand still runs the job; jobs already queued are not
        affected. Pausing a paused job replaces its reason and end (it stays paused since the
        first time). ``ConfigError`` naming ``reason`` or ``until`` if one is invalid; audited
        ``job.pause``."""
        ctx = self.ctx
        now = ctx.clock.now()
        pause = new_pause(reason, until, ctx.actor.name, now)
        task = await task_named(ctx, name)
        old = task.pause if task.paused(now) else None
        if old is not None:
            pause = dataclasses.replace(pause, paused_at=old.paused_at)
        updated = await ctx.store.pause_task(name, pause)
        if updated is None:  # deleted meanwhile
            raise NotFoundError(f"no job named {name!r}")
        ctx.schedules_changed()
        await ctx.audit("job.pause", "job", name, before=pause_audit(old), after=pause_audit(pause))
        return updated

    async def resume(self, name: str) -> Task:
        """End a job's pause now: the fires it held back are recorded as missed (``paused``),
        and the schedule goes on from now. A job not paused (or whose pause is over) is left
        as it is. Audited ``job.resume`` with the pause it ended."""
        ctx = self.ctx
        now = ctx.clock.now()
        task = await task_named(ctx, name)
        pause = task.pause
        if pause is None or not pause.active(now):
            return current(task, now)  # the scheduler clears an expired pause as it fires
        missed: tuple[NewMissedFire, ...] = ()
        next_fire = task.next_fire_at
        defn = task.definition
        if next_fire is not None and defn.schedule is not None:
            schedule = parse_schedule(defn.schedule, defn.timezone)
            missed, next_fire = pause.ended(name, next_fire, schedule.next_after, now)
        updated = await ctx.store.resume_task(name, pause.paused_at, next_fire, missed, now)
        if updated is None:
            raise NotFoundError(f"no job named {name!r}")
        ctx.schedules_changed()
        await ctx.audit("job.resume", "job", name, before=pause_audit(pause), after=None)
        return updated

    async def _record_disabled_fires(self, task: Task, now: datetime) -> None:
        """The fires a disabled task skipped, recorded when it is enabled again: from its last
        change (the disable, or a later edit: never too many) until now."""
        defn = task.definition
        if defn.schedule is None:
            return
        schedule = parse_schedule(defn.schedule, defn.timezone)
        since = task.updated_at
        missed = missed_between(
            defn.name,
            schedule.next_after(since),
            schedule.next_after,
            now,
            MissedReason.DISABLED,
            f"disabled from {since.isoformat()} until {now.isoformat()}",
        )
        await self.ctx.store.add_missed_fires(missed, now)

    async def preview(
        self, name: str, after: datetime, count: int
    ) -> list[tuple[datetime, datetime]]:
        """The next ``count`` fires of a defined job after ``after``, each with when its job
        would run: the fire time, or the next opening of the job's calendar."""
        if count < 1:
            raise ConfigError(f"must be >= 1, got {count}", field="count")
        defn = (await self.get(name)).definition
        if defn.schedule is None:
            raise ConfigError("has no schedule", job=name, field="schedule")
        spec = defn.policies.calendar
        calendar = None if spec is None else calendar_of(spec)
        fires = next_fires(parse_schedule(defn.schedule, defn.timezone), after, count)
        return [(f, f if calendar is None else calendar.next_open(f)) for f in fires]

    async def preview_noted(self, name: str, after: datetime, count: int) -> list[NotedFire]:
        """``preview`` with each fire's daylight-saving and calendar notes."""
        pairs = await self.preview(name, after, count)
        defn = (await self.get(name)).definition
        assert defn.schedule is not None  # preview refused a job without one
        return _noted(parse_schedule(defn.schedule, defn.timezone), pairs, after)

    # --- definitions made over the API ----------------------------------------------------
    async def create(self, table: dict[str, Any]) -> Task:
        """Create a job definition from a ``[[jobs]]``-shaped table (same keys, same checks,
        same messages as tickwork.toml); source ``api``. ``ConflictError`` if the name exists;
        ``ConfigError`` if its kind is not in ``api_job_kinds``. Audited with the table."""
        ctx = self.ctx
        defn = self._api_definition(table, await self._others(table.get("name")))
        existing = await ctx.store.get_task(defn.name)
        if existing is not None:
            raise ConflictError(taken_message(existing))
        now = ctx.clock.now()
        task = await ctx.store.create_task(defn, TaskSource.API, first_fire(defn, now), now)
        ctx.tasks.put(task.definition)
        ctx.schedules_changed()
        await ctx.audit("job.create", "job", defn.name, after=audit_table(defn))
        return task

    async def update(self, name: str, changes: dict[str, Any]) -> Task:
        """Apply ``changes`` (``[[jobs]]`` keys; a None value removes the key) to a definition
        made over the API; ``ConflictError`` for definitions from code or tickwork.toml (they
        would be overwritten at the next sync: change them where they are defined). A changed
        schedule or timezone starts a new rhythm. Audited with before/after.

        Keys merge at the top level: a new ``http`` table replaces the old one whole."""
        ctx = self.ctx
        task = await self._api_task(name, "changed")
        old = task.definition
        if "name" in changes and changes["name"] != name:
            raise ConfigError(
                "a job cannot be renamed; create one with the new name and delete this one",
                job=name,
                field="name",
            )
        defn = self._api_definition(merged_table(old, name, changes), await self._others(name))
        now = ctx.clock.now()
        next_fire = task.next_fire_at
        rhythm = (defn.schedule, defn.timezone, defn.enabled)
        if rhythm != (old.schedule, old.timezone, old.enabled) or next_fire is None:
            next_fire = first_fire(defn, now)
        updated = await ctx.store.update_task(defn, next_fire, now)
        if updated is None:  # deleted meanwhile
            raise NotFoundError(f"no job named {name!r}")
        ctx.tasks.put(updated.definition)
        ctx.schedules_changed()
        await ctx.audit("job.update", "job", name, before=audit_table(old), after=audit_table(defn))
        return updated

    async def problems(self, name: str, changes: dict[str, Any]) -> list[ConfigError]:
        """Every invalid key of ``changes`` with its reason, where ``update`` stops at the
        first: a key found invalid is set back to its stored value and the rest checked again.
        Nothing is written."""
        task = await self._api_task(name, "changed")
        others = await self._others(name)
        left = dict(changes)
        found: list[ConfigError] = []
        while True:
            try:
                self._api_definition(merged_table(task.definition, name, left), others)
                return found
            except ConfigError as exc:
                found.append(exc)
                key = (exc.field or "").split(".")[0]
                if key not in left:  # not a key of its own: nothing more to learn
                    return found
                del left[key]

    async def delete(self, name: str) -> Task:
        """Remove a definition made over the API (history kept, pending jobs cancelled);
        ``ConflictError`` for others. Audited."""
        ctx = self.ctx
        task = await self._api_task(name, "deleted")
        removed = await ctx.store.remove_task(name, ctx.clock.now())
        if removed is None:
            raise NotFoundError(f"no job named {name!r}")
        ctx.schedules_changed()
        await ctx.audit("job.delete", "job", name, before=audit_table(task.definition))
        return removed

    def _api_definition(
        self, table: dict[str, Any], others: Sequence[TaskDefinition]
    ) -> TaskDefinition:
        """A definition from API input, checked like tickwork.toml, then against what the API
        may define (``definition_rules.check_api_definable``) and against the ``others``'
        dependencies (no unknown upstream, no cycle)."""
        defn = parse_job_table(table, self.ctx.calendars, TaskSource.API)
        check_api_definable(defn, self.ctx.api_job_kinds)
        validate_definitions([defn], self.ctx.resolve, others=others)
        return defn

    async def _others(self, name: object) -> list[TaskDefinition]:
        """The live definitions besides ``name`` (what an API definition's dependencies may
        name)."""
        stored = await self.ctx.store.list_tasks(include_removed=False)
        return [t.definition for t in stored if t.name != name]

    async def _api_task(self, name: str, verb: str) -> Task:
        """A live task that was defined over the API (the only ones the API may change)."""
        task = await self.get(name)
        if task.removed:
            raise NotFoundError(f"no job named {name!r} (it was deleted)")
        check_api_changeable(task, verb)
        return task


def merged_table(old: TaskDefinition, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``old``'s ``[[jobs]]`` table with ``changes`` merged at the top level (a None value
    removes its key)."""
    table = definition_table(old)
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    table["name"] = name
    return table


def current(task: Task, now: datetime) -> Task:
    """The task as it is ``now``: a pause that is over is no pause, though the store keeps it
    until the scheduler clears it (at the task's next fire)."""
    if task.pause is not None and not task.pause.active(now):
        return dataclasses.replace(task, pause=None)
    return task


def pause_audit(pause: TaskPause | None) -> dict[str, Any] | None:
    """A pause as the audit log records it."""
    if pause is None:
        return None
    until = None if pause.until is None else pause.until.isoformat()
    return {"reason": pause.reason, "until": until, "paused_by": pause.paused_by}


def task_table(task: Task) -> dict[str, Any]:
    """A stored definition as a ``[[jobs]]``-shaped table (what ``Definitions.create`` takes)."""
    return definition_table(task.definition)


def preview_noted(expression: str, timezone: str, after: datetime, count: int) -> list[NotedFire]:
    """``preview`` with each fire's daylight-saving notes (no calendar: an expression alone)."""
    fires = preview(expression, timezone, after, count)
    return _noted(parse_schedule(expression, timezone), [(f, f) for f in fires], after)


def _noted(
    schedule: Schedule, pairs: list[tuple[datetime, datetime]], after: datetime
) -> list[NotedFire]:
    # The offset in force at ``after``: a first fire after a clock change says so.
    previous = after.astimezone(load_timezone(schedule.timezone)).utcoffset()
    return noted_fires(schedule, pairs, previous)


def preview(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of a schedule expression (for ``tickwork next``)."""
    if count < 1:
        raise ConfigError(f"must be >= 1, got {count}", field="count")
    schedule = parse_schedule(expression, timezone)
    out: list[datetime] = []
    for fire in schedule.iter_after(after):
        out.append(fire)
        if len(out) >= count:
            break
    return out
