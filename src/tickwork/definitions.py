"""Rules for job definitions made over the API: which kinds may be defined, which stored
definitions may be changed, and how a definition appears in the audit log."""

from __future__ import annotations

from typing import Any

from tickwork.config.jobs import definition_table
from tickwork.domain.tasks import Task, TaskDefinition, TaskKind, TaskSource
from tickwork.errors import ConfigError, ConflictError

TARGET_KEYS = {TaskKind.PYTHON: "task", TaskKind.SHELL: "command", TaskKind.HTTP: "http"}
SOURCE_PLACES = {
    TaskSource.CODE: "code (@app.task)",
    TaskSource.CONFIG: "tickwork.toml",
    TaskSource.API: "the API",
}
# Header and env values may be credentials (an Authorization header, a password): the audit
# log records that they changed, not what they are.
REDACTED = "<redacted>"


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
