"""The use cases of job definitions made over the API (source ``api``): create, change and
delete them as ``[[jobs]]`` tables. A base of ``Service``, kept apart as its own responsibility;
the rules it applies are in ``definitions``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from tickwork.config.jobs import definition_table, parse_job_table
from tickwork.definitions import (
    audit_table,
    check_api_changeable,
    check_api_definable,
    first_fire,
    taken_message,
    validate_definitions,
)
from tickwork.domain.tasks import Task, TaskDefinition, TaskKind, TaskSource
from tickwork.errors import ConfigError, ConflictError, NotFoundError
from tickwork.runtime.clock import Clock
from tickwork.runtime.taskcache import TaskCache
from tickwork.store.base import Store


class ApiDefinitions(ABC):
    """Needs what ``Service`` has: its store, clock, task cache, settings and the three
    methods below."""

    store: Store
    clock: Clock
    calendars: Mapping[str, dict[str, Any]]
    api_job_kinds: frozenset[TaskKind]
    _resolve: Callable[[str], Callable[..., Any]] | None
    _tasks: TaskCache

    @abstractmethod
    async def get_task(self, name: str) -> Task: ...

    @abstractmethod
    def _changed(self) -> None: ...

    @abstractmethod
    async def _audit(
        self,
        action: str,
        target_type: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None: ...

    async def create_task(self, table: dict[str, Any]) -> Task:
        """Create a job definition from a ``[[jobs]]``-shaped table (same keys, same checks,
        same messages as tickwork.toml); source ``api``. ``ConflictError`` if the name exists;
        ``ConfigError`` if its kind is not in ``api_job_kinds``. Audited with the table."""
        defn = self._api_definition(table)
        existing = await self.store.get_task(defn.name)
        if existing is not None:
            raise ConflictError(taken_message(existing))
        now = self.clock.now()
        task = await self.store.create_task(defn, TaskSource.API, first_fire(defn, now), now)
        self._tasks.put(task.definition)
        self._changed()
        await self._audit("job.create", "job", defn.name, after=audit_table(defn))
        return task

    async def update_task(self, name: str, changes: dict[str, Any]) -> Task:
        """Apply ``changes`` (``[[jobs]]`` keys; a None value removes the key) to a definition
        made over the API; ``ConflictError`` for definitions from code or tickwork.toml (they
        would be overwritten at the next sync: change them where they are defined). A changed
        schedule or timezone starts a new rhythm. Audited with before/after.

        Keys merge at the top level: a new ``http`` table replaces the old one whole."""
        task = await self._api_task(name, "changed")
        old = task.definition
        if "name" in changes and changes["name"] != name:
            raise ConfigError(
                "a job cannot be renamed; create one with the new name and delete this one",
                job=name,
                field="name",
            )
        table = definition_table(old)
        for key, value in changes.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        table["name"] = name
        defn = self._api_definition(table)
        now = self.clock.now()
        next_fire = task.next_fire_at
        rhythm = (defn.schedule, defn.timezone, defn.enabled)
        if rhythm != (old.schedule, old.timezone, old.enabled) or next_fire is None:
            next_fire = first_fire(defn, now)
        updated = await self.store.update_task(defn, next_fire, now)
        if updated is None:  # deleted meanwhile
            raise NotFoundError(f"no job named {name!r}")
        self._tasks.put(updated.definition)
        self._changed()
        await self._audit(
            "job.update", "job", name, before=audit_table(old), after=audit_table(defn)
        )
        return updated

    async def delete_task(self, name: str) -> Task:
        """Remove a definition made over the API (history kept, pending jobs cancelled);
        ``ConflictError`` for others. Audited."""
        task = await self._api_task(name, "deleted")
        removed = await self.store.remove_task(name, self.clock.now())
        if removed is None:
            raise NotFoundError(f"no job named {name!r}")
        self._changed()
        await self._audit("job.delete", "job", name, before=audit_table(task.definition))
        return removed

    def task_table(self, task: Task) -> dict[str, Any]:
        """A stored definition as a ``[[jobs]]``-shaped table (what ``create_task`` takes)."""
        return definition_table(task.definition)

    def _api_definition(self, table: dict[str, Any]) -> TaskDefinition:
        """A definition from API input, checked like tickwork.toml, then against what the API
        may define (``definitions.check_api_definable``)."""
        defn = parse_job_table(table, self.calendars, TaskSource.API)
        check_api_definable(defn, self.api_job_kinds)
        validate_definitions([defn], self._resolve)
        return defn

    async def _api_task(self, name: str, verb: str) -> Task:
        """A live task that was defined over the API (the only ones the API may change)."""
        task = await self.get_task(name)
        if task.removed:
            raise NotFoundError(f"no job named {name!r} (it was deleted)")
        check_api_changeable(task, verb)
        return task
