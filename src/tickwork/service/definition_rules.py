"""Rules for job definitions: what is checked before any is written, when one fires first and
by which calendar, which kinds the API may define and which stored ones it may change, how a
definition appears in the audit log. (How lists of definitions are filtered and sorted:
``domain.queries.TaskFilter``, answered by the store.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tickwork.callables import Resolver, resolve_callable
from tickwork.config.jobs import definition_table
from tickwork.domain.arguments import check_call, check_json, signature_of
from tickwork.domain.calendars import Calendar, calendar_from_spec
from tickwork.domain.dependencies import DependencyGraph, cycle_text
from tickwork.domain.queries import SyncReport
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.tasks import PythonTarget, Task, TaskDefinition, TaskKind, TaskSource
from tickwork.errors import ConfigError, ConflictError
from tickwork.service.audit import Change

TARGET_KEYS = {TaskKind.PYTHON: "task", TaskKind.SHELL: "command", TaskKind.HTTP: "http"}
SOURCE_PLACES = {
    TaskSource.CODE: "code (@app.task)",
    TaskSource.CONFIG: "tickwork.toml",
    TaskSource.API: "the API",
}
# Header and env values may be credentials (an Authorization header, a password): the audit
# log records that they changed, not what they are.
REDACTED = "<redacted>"


def validate_definitions(
    definitions: Sequence[TaskDefinition],
    resolve: Resolver | None = resolve_callable,
    *,
    others: Sequence[TaskDefinition] | None = None,
) -> None:
    """Everything that can be checked before writing: unique names, schedules, arguments
    (JSON; with ``resolve``, against the task's signature), importability, and dependencies
    (``check_dependencies``: no cycle; with ``others``, the stored definitions besides these,
    no unknown upstream)."""
    seen: set[str] = set()
    for defn in definitions:
        if defn.name in seen:
            raise ConfigError("defined twice", job=defn.name, field="name")
        seen.add(defn.name)
        if defn.schedule is not None:
            try:
                parse_schedule(defn.schedule, defn.timezone)
            except ConfigError as exc:
                raise exc.for_job(defn.name) from None
        try:
            check_json(defn.args, defn.kwargs)
        except ConfigError as exc:
            raise exc.for_job(defn.name) from None
        if resolve is not None and isinstance(defn.target, PythonTarget):
            try:
                func = resolve(defn.target.path)
            except ConfigError as exc:
                raise exc.for_job(defn.name) from None
            check_definition_arguments(defn, func)
        if resolve is not None and defn.policies.guard:
            try:
                resolve(defn.policies.guard)
            except ConfigError as exc:
                raise ConfigError(exc.reason, job=defn.name, field="guard") from None
    check_dependencies(definitions, others)


def check_dependencies(
    definitions: Sequence[TaskDefinition], others: Sequence[TaskDefinition] | None = None
) -> None:
    """The ``after`` edges of ``definitions`` and ``others`` form no cycle (``ConfigError``
    naming it, ``a → b → a``); with ``others`` given (every other definition there is), each
    ``after`` and ``requires`` of ``definitions`` names a job that exists."""
    names = {d.name for d in definitions}
    every = [*definitions, *(o for o in others or () if o.name not in names)]
    if others is not None:
        known = {d.name for d in every}
        for defn in definitions:
            for key, upstreams in (
                ("after", [a.job for a in defn.policies.after]),
                ("requires", [r.job for r in defn.policies.requires]),
            ):
                for upstream in upstreams:
                    if upstream not in known:
                        raise ConfigError(f"unknown job {upstream!r}", job=defn.name, field=key)
    graph = DependencyGraph.of({d.name: d.policies.after for d in every if d.policies.after})
    cycle = graph.cycle()
    if cycle is not None:
        first = next((n for n in cycle if n in names), cycle[0])
        raise ConfigError(f"dependency cycle {cycle_text(cycle)}", job=first, field="after")


def check_definition_arguments(defn: TaskDefinition, func: Callable[..., Any]) -> None:
    """A definition's ``args``/``kwargs`` must fit its function: completely if it has a
    schedule (every fire calls it with exactly those), else as defaults that a caller may
    complete. ``ConfigError`` naming the job and the argument."""
    signature = signature_of(func)
    if signature is None:
        return
    try:
        check_call(signature, defn.args, defn.kwargs, partial=defn.schedule is None)
    except ConfigError as exc:
        raise exc.for_job(defn.name) from None


def first_fire(defn: TaskDefinition, now: datetime) -> datetime | None:
    """When a (newly enabled) definition fires first, or None if it never fires by itself."""
    if defn.schedule is None or not defn.enabled:
        return None
    return parse_schedule(defn.schedule, defn.timezone).next_after(now)


_CALENDARS: dict[str, Calendar] = {}


def calendar_of(spec: dict[str, Any]) -> Calendar:
    """The calendar of a task's spec, parsed once per distinct spec."""
    key = json.dumps(spec, sort_keys=True, default=str)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = _CALENDARS[key] = calendar_from_spec(spec)
    return calendar


def check_api_definable(defn: TaskDefinition, kinds: frozenset[TaskKind]) -> None:
    """No code chosen by an API caller runs unless ``kinds`` (``[api] job_kinds``) allows it:
    shell commands, Python callables and guards (Python called before every run)."""
    if defn.kind not in kinds:
        allowed = ", ".join(sorted(k.value for k in kinds)) or "none"
        raise ConfigError(
            f"{defn.kind.value} jobs cannot be defined over the API (allowed: {allowed});"
            " define them in tickwork.toml or in code",
            job=defn.name,
            field=TARGET_KEYS[defn.kind],
        )
    if defn.policies.guard is not None and TaskKind.PYTHON not in kinds:
        raise ConfigError(
            "guards cannot be set over the API (they run Python code); define the job"
            " in tickwork.toml or in code",
            job=defn.name,
            field="guard",
        )


def check_api_changeable(task: Task, verb: str) -> None:
    """Only definitions made over the API change over it: a sync of code or tickwork.toml
    would undo any change to theirs at the next start."""
    source = task.definition.source
    if source is not TaskSource.API:
        raise ConflictError(
            f"job {task.name!r} is defined in {SOURCE_PLACES[source]}; it can only be {verb}"
            " there (the next start would undo a change made here)"
        )


def taken_message(task: Task) -> str:
    name = task.name
    if task.removed:
        return (
            f"a job named {name!r} existed and was deleted; its run history keeps the name,"
            " so choose another one"
        )
    return (
        f"a job named {name!r} already exists (defined in {SOURCE_PLACES[task.definition.source]})"
    )


def audit_table(defn: TaskDefinition) -> dict[str, Any]:
    """The definition's table for the audit log, with header and env values redacted."""
    table = definition_table(defn)
    http = table.get("http")
    if isinstance(http, dict) and http.get("headers"):
        http["headers"] = {key: REDACTED for key in http["headers"]}
    if table.get("env"):
        table["env"] = {key: REDACTED for key in table["env"]}
    return table


def sync_changes(definitions: Sequence[TaskDefinition], report: SyncReport) -> list[Change]:
    """The audit entries of a sync, shaped as the API's changes are: ``job.create`` (after),
    ``job.update`` or ``job.restore`` (a removed task back; before and after) and ``job.delete``
    (before), each definition as ``definitions.audit_table`` shows it."""
    by_name = {d.name: d for d in definitions}
    changes = [
        Change("job.create", "job", name, after=audit_table(by_name[name]))
        for name in report.created
    ]
    for name in report.updated:
        old = report.previous[name]
        # As stored: a sync keeps the operator's enabled switch.
        new = dataclasses.replace(by_name[name], enabled=old.definition.enabled)
        action = "job.restore" if old.removed else "job.update"
        before, after = audit_table(old.definition), audit_table(new)
        changes.append(Change(action, "job", name, before=before, after=after))
    for name in report.removed:
        before = audit_table(report.previous[name].definition)
        changes.append(Change("job.delete", "job", name, before=before))
    return changes
