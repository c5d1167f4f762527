"""Rows and domain types, both ways, for every dialect: one column list and one mapper per table.

Each list is derived from the table (``schema``) and the domain type it maps to, and every
statement that reads whole rows, Core or raw, selects exactly that list; the mapper then
converts each value by its column's type (``Codec``: what the driver hands back for times and
JSON) and its domain type (enums). ``tests/store/test_rows.py`` holds every dialect's raw
statements to the lists. Values going in are built here once too: a new job's row, a
completion's run row and job update, an interrupted run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from tickwork.domain.access import ApiToken, AuditEntry, NewAuditEntry, Role, Scope, User
from tickwork.domain.admission import restricts_claims
from tickwork.domain.autoschedule import Breaker, Override
from tickwork.domain.jobs import (
    TERMINAL_STATES,
    Completion,
    ErrorClass,
    Job,
    JobState,
    NewJob,
    ResourceScope,
    Run,
    RunMark,
    RunStatus,
    TriggeredBy,
    new_job_state,
)
from tickwork.domain.limits import policies_from_dict, policies_to_dict
from tickwork.domain.queries import ControlState, DueSchedule, ProcessorInfo
from tickwork.domain.tasks import (
    RetryPolicy,
    Task,
    TaskDefinition,
    TaskPause,
    TaskSource,
    target_from_dict,
    target_to_dict,
)
from tickwork.store.schema import UTCDateTime, audit, jobs, processors, runs, tokens, users

T = TypeVar("T")
Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True)
class Codec:
    """How a driver hands back (``time``, ``json``) and takes (``encode_time``,
    ``encode_json``) the values of time and JSON columns. The raw drivers' codecs live with
    their dialects; ``CORE`` is SQLAlchemy's, whose column types already convert."""

    time: Convert = _same
    json: Convert = _same
    encode_time: Convert = _same
    encode_json: Convert = _same


CORE = Codec()


class TableMap(Generic[T]):
    """The columns of ``table`` that are fields of ``cls`` (in table order), and mappers from
    tuples of exactly those columns (plus ``extra`` trailing ones) to ``cls``."""

    def __init__(
        self,
        table: sa.Table,
        cls: type[T],
        convert: Mapping[str, Convert] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        self.table = table
        self.columns = tuple(c.name for c in table.c if c.name in names)
        self.extra = extra
        self.select_list = ", ".join(self.columns)
        missing = set(names) - set(self.columns) - set(extra) - _defaulted(cls)
        assert not missing, f"{cls.__name__} fields without a column: {missing}"
        self._cls = cls
        self._convert = {k: _by_value(v) for k, v in (convert or {}).items()}
        self._mappers: dict[Codec, Callable[[Sequence[Any]], T]] = {}

    def mapper(self, codec: Codec = CORE) -> Callable[[Sequence[Any]], T]:
        """Tuple of ``columns`` + ``extra`` → ``cls``; None stays None, other values pass
        through the codec (by column type) and then the domain conversion (by name)."""
        found = self._mappers.get(codec)
        if found is not None:
            return found
        position = {name: i for i, name in enumerate(self.columns + self.extra)}
        order: list[int] = []
        steps: list[tuple[int, Convert]] = []
        for f in dataclasses.fields(self._cls):  # type: ignore[arg-type]
            if f.name not in position:
                continue  # a field with a default that no column holds
            i = position[f.name]
            order.append(i)
            convert = self._step(f.name, codec)
            if convert is not None:
                steps.append((len(order) - 1, convert))
        cls = self._cls

        def build(row: Sequence[Any]) -> T:
            values = [row[i] for i in order]
            for i, convert in steps:
                v = values[i]
                if v is not None:
                    values[i] = convert(v)
            return cls(*values)

        self._mappers[codec] = build
        return build

    def _step(self, name: str, codec: Codec) -> Convert | None:
        column = self.table.c.get(name)
        by_type: Convert | None = None
        if column is not None and isinstance(column.type, UTCDateTime):
            by_type = None if codec.time is _same else codec.time
        elif column is not None and isinstance(column.type, sa.JSON):
            by_type = None if codec.json is _same else codec.json
        domain = self._convert.get(name)
        if by_type is None or domain is None:
            return by_type or domain
        first, then = by_type, domain
        return lambda v: then(first(v))


def _defaulted(cls: type[Any]) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }


def _by_value(convert: Convert) -> Convert:
    """An enum class's lookup by value as a dict's (a tenth of the class call's ~3 µs: a jobs
    page maps 3,000 run statuses); the class itself still names an unknown value."""
    if not (isinstance(convert, type) and issubclass(convert, Enum)):
        return convert
    members = {m.value: m for m in convert}

    def member(value: Any) -> Any:
        found = members.get(value)
        return convert(value) if found is None else found

    return member


def _scopes(values: list[str]) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in values)


JOBS = TableMap(jobs, Job, {"state": JobState, "triggered_by": TriggeredBy})
RUNS = TableMap(
    runs,
    Run,
    {
        "status": RunStatus,
        "triggered_by": TriggeredBy,
        "error_class": ErrorClass,
        "resource_scope": ResourceScope,
    },
)
# A run's few columns that charts need (no output or traceback to carry).
RUN_MARKS = TableMap(runs, RunMark, {"status": RunStatus})
PROCESSORS = TableMap(processors, ProcessorInfo)
USERS = TableMap(users, User, {"role": Role})
# A token with its user's name (a join).
TOKENS = TableMap(tokens, ApiToken, {"scopes": _scopes}, extra=("user_name",))
AUDIT = TableMap(audit, AuditEntry)

job_from_row = JOBS.mapper()
run_from_row = RUNS.mapper()
run_mark_from_row = RUN_MARKS.mapper()


def columns(table_map: TableMap[Any]) -> list[sa.ColumnElement[Any]]:
    """The Core columns of a map's list, to select (``select(*columns(JOBS))``)."""
    return [table_map.table.c[name] for name in table_map.columns]


# A task's pause (``TaskPause``), in this order: ``pause_values`` and ``pause_of`` map them.
PAUSE_COLUMNS = ("paused_at", "paused_by", "pause_reason", "pause_until")


def pause_values(pause: TaskPause | None) -> dict[str, Any]:
    """The ``PAUSE_COLUMNS`` of a pause (None: all NULL, not paused)."""
    if pause is None:
        return dict.fromkeys(PAUSE_COLUMNS)
    values = (pause.paused_at, pause.paused_by, pause.reason, pause.until)
    return dict(zip(PAUSE_COLUMNS, values, strict=True))


def pause_of(values: Sequence[Any], codec: Codec = CORE) -> TaskPause | None:
    """The pause of the ``PAUSE_COLUMNS`` values, in order; None if not paused."""
    paused_at, paused_by, reason, until = values
    if paused_at is None:
        return None
    return TaskPause(
        paused_at=codec.time(paused_at),
        paused_by=paused_by or "",
        reason=reason or "",
        until=None if until is None else codec.time(until),
    )


# What the scheduler reads of a due task, in this order; the statement adds the count of the
# task's active jobs (``schema.ACTIVE_FOR_OVERLAP``) as the last column.
DUE_COLUMNS = (
    "name",
    "schedule",
    "timezone",
    "next_fire_at",
    "args",
    "kwargs",
    "priority",
    "max_retries",
    "policies",
    *PAUSE_COLUMNS,
    "auto_stride",
    "auto_offset_seconds",
    "auto_breaker",
)


def due_schedule(row: Sequence[Any], codec: Codec = CORE) -> DueSchedule:
    """A ``DueSchedule`` of a row of ``DUE_COLUMNS`` and the active count."""
    return DueSchedule(
        task_name=row[0],
        schedule=row[1],
        timezone=row[2],
        next_fire_at=codec.time(row[3]),
        args=codec.json(row[4]),
        kwargs=codec.json(row[5]),
        priority=row[6],
        max_attempts=row[7] + 1,
        policies=policies_from_dict(codec.json(row[8])),
        pause=pause_of(row[9:13], codec),
        auto_stride=row[13],
        auto_offset_seconds=row[14],
        auto_held=row[15] is not None,
        active_jobs=row[len(DUE_COLUMNS)],
    )


# --- values going in ---------------------------------------------------------------------------
# The columns a new job's row fills, in this order; the statements add ``created_at`` (now),
# ``attempt`` (0) and, where the store picks IDs itself (SQLite), ``id``.
NEW_JOB_COLUMNS = (
    "task_name",
    "state",
    "args",
    "kwargs",
    "priority",
    "key",
    "unique_key",
    "scheduled_at",
    "max_attempts",
    "triggered_by",
    "fire_at",
    "finished_at",
    "last_error",
    "watch_job_id",
    "requested_by",
    "backfill_id",
)


def new_job_row(j: NewJob, now: datetime, codec: Codec = CORE) -> tuple[Any, ...]:
    """A new job's values for ``NEW_JOB_COLUMNS``; a skipped fire is created finished."""
    time = codec.encode_time
    dumps = codec.encode_json
    return (
        j.task_name,
        new_job_state(j, now).value,
        dumps(list(j.args)),
        dumps(dict(j.kwargs)),
        j.priority,
        j.key,
        j.unique_key,
        time(j.scheduled_at),
        j.max_attempts,
        j.triggered_by.value,
        None if j.fire_at is None else time(j.fire_at),
        time(now) if j.skip_reason else None,
        j.skip_reason,
        j.watch_job_id,
        j.requested_by,
        j.backfill_id,
    )


def new_job_values(j: NewJob, now: datetime) -> dict[str, Any]:
    """A new job's row for a Core insert."""
    return {
        **dict(zip(NEW_JOB_COLUMNS, new_job_row(j, now), strict=True)),
        "attempt": 0,
        "created_at": now,
    }


# The columns of a run written by ``complete``: every column but the ID, in this order.
RUN_INSERT_COLUMNS = tuple(c.name for c in runs.c if c.name != "id")


def completion_run_row(c: Completion, codec: Codec = CORE) -> tuple[Any, ...]:
    """A completion's run record for ``RUN_INSERT_COLUMNS``."""
    o = c.outcome
    r = o.resources
    dumps = codec.encode_json
    return (
        c.job_id,
        c.task_name,
        c.attempt,
        o.status.value,
        c.triggered_by.value,
        codec.encode_time(c.started_at),
        codec.encode_time(c.finished_at),
        max((c.finished_at - c.started_at).total_seconds(), 0.0),
        c.worker_id,
        o.error_type,
        o.error_class.value if o.error_class else None,
        o.error_message,
        o.traceback,
        o.exit_code,
        o.output,
        dumps(o.result),
        dumps(o.metrics),
        None if r is None else r.peak_memory_mb,
        None if r is None else r.cpu_seconds,
        None if r is None else r.cpu_percent,
        None if r is None else r.scope.value,
        c.requested_by,
    )


# What a completion changes in its job (where that attempt of that worker still runs).
COMPLETION_UPDATE = ("state", "finished_at", "retry_at", "last_error", "refund")


def completion_update(c: Completion, codec: Codec = CORE) -> tuple[Any, ...]:
    """A completion's job change for ``COMPLETION_UPDATE``: the new state, ``finished_at`` if
    terminal, the retry time (becomes ``scheduled_at``), the error, and 1 to take back the
    attempt (a deferral)."""
    return (
        c.next_state.value,
        codec.encode_time(c.finished_at) if c.next_state in TERMINAL_STATES else None,
        None if c.retry_at is None else codec.encode_time(c.retry_at),
        c.outcome.error_message,
        1 if c.refund_attempt else 0,
    )


def task_values(defn: TaskDefinition) -> dict[str, Any]:
    """The columns of ``tickwork_tasks`` that come from a definition."""
    r = defn.retry
    return {
        "name": defn.name,
        "kind": defn.kind.value,
        "target": target_to_dict(defn.target),
        "schedule": defn.schedule,
        "timezone": defn.timezone,
        "timeout_seconds": defn.timeout_seconds,
        "max_retries": r.max_retries,
        # The retry policy beyond max_retries: the backoff, and which failures retry.
        "backoff": {
            "base": r.base_seconds,
            "factor": r.factor,
            "cap": r.cap_seconds,
            "jitter": r.jitter,
            "retry_on": list(r.retry_on),
            "no_retry_on": list(r.no_retry_on),
            "max_interruptions": r.max_interruptions,
        },
        "enabled": defn.enabled,
        "description": defn.description,
        "priority": defn.priority,
        "tags": list(defn.tags),
        "args": list(defn.args),
        "kwargs": dict(defn.kwargs),
        "source": defn.source.value,
        "policies": policies_to_dict(defn.policies),
        "claim_limited": restricts_claims(defn.policies),
    }


def task_from_row(row: Mapping[Any, Any]) -> Task:
    b = row["backoff"]
    defn = TaskDefinition(
        name=row["name"],
        target=target_from_dict(row["target"]),
        schedule=row["schedule"],
        timezone=row["timezone"],
        timeout_seconds=row["timeout_seconds"],
        retry=RetryPolicy(
            max_retries=row["max_retries"],
            base_seconds=b["base"],
            factor=b["factor"],
            cap_seconds=b["cap"],
            jitter=b["jitter"],
            # Absent in rows written before these existed.
            retry_on=tuple(b.get("retry_on") or ()),
            no_retry_on=tuple(b.get("no_retry_on") or ()),
            max_interruptions=max_interruptions_of(b),
        ),
        enabled=bool(row["enabled"]),
        description=row["description"],
        priority=row["priority"],
        tags=tuple(row["tags"]),
        args=tuple(row["args"]),
        kwargs=dict(row["kwargs"]),
        source=TaskSource(row["source"]),
        policies=policies_from_dict(row["policies"]),
    )
    return Task(
        definition=defn,
        removed=row["removed_at"] is not None,
        next_fire_at=row["next_fire_at"],
        last_fire_at=row["last_fire_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        pause=pause_of([row[c] for c in PAUSE_COLUMNS]),
        auto=override_of([row[c] for c in OVERRIDE_COLUMNS]),
    )


# Auto-rescheduling's override of a task (domain.autoschedule.Override), in this order.
OVERRIDE_COLUMNS = (
    "auto_stride",
    "auto_offset_seconds",
    "auto_breaker",
    "auto_breaker_at",
    "auto_probe_job_id",
    "auto_changed_at",
)


def override_values(o: Override) -> dict[str, Any]:
    """The ``OVERRIDE_COLUMNS`` of an override."""
    breaker = None if o.breaker is Breaker.CLOSED else o.breaker.value
    values = (o.stride, o.offset_seconds, breaker, o.breaker_at, o.probe_job_id, o.changed_at)
    return dict(zip(OVERRIDE_COLUMNS, values, strict=True))


def override_of(values: Sequence[Any], codec: Codec = CORE) -> Override:
    """The override of the ``OVERRIDE_COLUMNS`` values, in order."""
    stride, offset, breaker, breaker_at, probe, changed_at = values
    return Override(
        stride=stride,
        offset_seconds=offset,
        breaker=Breaker.CLOSED if breaker is None else Breaker(breaker),
        breaker_at=None if breaker_at is None else codec.time(breaker_at),
        probe_job_id=probe,
        changed_at=None if changed_at is None else codec.time(changed_at),
    )


def max_interruptions_of(backoff: Mapping[str, Any]) -> int | None:
    """A task's own ``max_interruptions`` from its stored retry policy (None: the default)."""
    value = backoff.get("max_interruptions")  # absent in rows written before it existed
    return None if value is None else int(value)


def interrupted_run_values(job: Job, now: datetime, reason: str) -> dict[str, Any]:
    started = job.started_at or now
    return {
        "job_id": job.id,
        "task_name": job.task_name,
        "attempt": job.attempt,
        "status": RunStatus.INTERRUPTED.value,
        "triggered_by": job.run_triggered_by.value,
        "started_at": started,
        "finished_at": now,
        "duration_seconds": max((now - started).total_seconds(), 0.0),
        "worker_id": job.worker_id,
        "error_type": "Interrupted",
        "error_class": None,
        "error_message": reason,
        "traceback": None,
        "exit_code": None,
        "output": None,
        "result": None,
        "metrics": None,
        # The attempt's process is gone with its worker: nothing was measured.
        "peak_memory_mb": None,
        "cpu_seconds": None,
        "cpu_percent": None,
        "resource_scope": None,
        "requested_by": job.requested_by,
    }


# --- accounts, audit, control ------------------------------------------------------------------


def json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A before/after snapshot as plain JSON (times and enums as strings), so an audit entry
    never fails to be written over a value the JSON column cannot take."""
    if value is None:
        return None
    safe: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return safe


def audit_values(entry: NewAuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "before": json_safe(entry.before),
        "after": json_safe(entry.after),
        "request_id": entry.request_id,
    }


# The fields of ControlState kept as rows of tickwork_control (one row per field).
CONTROL_FIELDS = ("paused", "batch_size", "max_concurrent_jobs", "default_timeout_seconds")


def control_from_rows(found: Sequence[Mapping[Any, Any]]) -> ControlState:
    """The control state of its rows; absent rows keep the defaults. The newest row's time and
    author stand for the whole state."""
    values: dict[str, Any] = {}
    latest: Mapping[Any, Any] | None = None
    for row in found:
        if row["name"] in CONTROL_FIELDS:
            values[row["name"]] = row["value"]
        if latest is None or row["updated_at"] > latest["updated_at"]:
            latest = row
    return ControlState(
        paused=bool(values.get("paused", False)),
        batch_size=values.get("batch_size"),
        max_concurrent_jobs=values.get("max_concurrent_jobs"),
        default_timeout_seconds=values.get("default_timeout_seconds"),
        updated_at=latest["updated_at"] if latest is not None else None,
        updated_by=latest["updated_by"] if latest is not None else None,
    )
