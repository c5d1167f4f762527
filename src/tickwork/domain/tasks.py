"""Task definitions: what to run (Python callable, HTTP request, shell command) and its defaults."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tickwork.domain.activity import MissedReason, NewMissedFire, missed_between
from tickwork.domain.autoschedule import Override
from tickwork.domain.limits import Policies
from tickwork.errors import ConfigError

DEFAULT_TIMEZONE = "UTC"
DEFAULT_PRIORITY = 0
DEFAULT_MAX_RETRIES = 0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_CAP_SECONDS = 60.0
# How often a job may lose its worker (crash, lease expired, stop) before it is failed.
DEFAULT_MAX_INTERRUPTIONS = 3
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# A pause's reason may be this long at most (characters).
MAX_PAUSE_REASON = 500
# Task names: also the pattern of the API's {name} path parameters.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$"
_NAME = re.compile(NAME_PATTERN.strip("^$"))
_PYTHON_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
# An entry of retry_on / no_retry_on: an exception name (maybe module-qualified) or an error class.
_ERROR_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


class TaskKind(StrEnum):
    PYTHON = "python"
    HTTP = "http"
    SHELL = "shell"


class TaskSource(StrEnum):
    """Where a definition came from; sync only marks removed the ones of its own source."""

    CODE = "code"
    CONFIG = "config"
    API = "api"
    BUILTIN = "builtin"  # tickwork's own tasks (``tickwork.notify``)


@dataclass(frozen=True)
class PythonTarget:
    """A callable named ``package.module:function`` (sync or async)."""

    path: str

    kind = TaskKind.PYTHON


@dataclass(frozen=True)
class HttpTarget:
    """An HTTP request; the run succeeds when the status is expected (any 2xx by default)."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    body: str | None = None
    expected_statuses: tuple[int, ...] = ()

    kind = TaskKind.HTTP

    def is_expected(self, status: int) -> bool:
        if self.expected_statuses:
            return status in self.expected_statuses
        return 200 <= status < 300


@dataclass(frozen=True)
class ShellTarget:
    """A shell command run with ``/bin/sh -c`` in its own process group."""

    command: str
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    kind = TaskKind.SHELL


Target = PythonTarget | HttpTarget | ShellTarget


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how far apart a failed job is tried again, and after which failures.

    ``retry_on`` / ``no_retry_on`` hold exception names (``ValueError``,
    ``myapp.errors.Transient``; a base class covers its subclasses), error types of the other
    kinds (``ExitCode``, ``Signal``, ``HTTPStatus``, ``Timeout``) or error classes (``network``,
    ``timeout``, ...); see ``domain.policies.is_retryable``. ``max_interruptions``: how often a
    job may lose its worker before it fails (None: the process-wide default).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS
    factor: float = DEFAULT_BACKOFF_FACTOR
    cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS
    jitter: bool = True
    retry_on: tuple[str, ...] = ()
    no_retry_on: tuple[str, ...] = ()
    max_interruptions: int | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"must be >= 0, got {self.max_retries}", field="max_retries")
        if self.base_seconds < 0 or self.cap_seconds < 0:
            raise ConfigError("backoff durations must be >= 0", field="backoff")
        if self.factor < 1:
            raise ConfigError(f"must be >= 1, got {self.factor}", field="backoff_factor")
        if self.max_interruptions is not None and self.max_interruptions < 0:
            raise ConfigError(
                f"must be >= 0, got {self.max_interruptions}", field="max_interruptions"
            )
        for name in ("retry_on", "no_retry_on"):
            for entry in getattr(self, name):
                if not isinstance(entry, str) or not _ERROR_NAME.fullmatch(entry):
                    raise ConfigError(
                        f"invalid entry {entry!r}: expected an exception or error class name,"
                        " e.g. 'ValueError' or 'network'",
                        field=name,
                    )

    def delay_seconds(self, attempt: int, rand: float = 1.0) -> float:
        """Wait before the attempt after ``attempt`` (1-based) failed.

        Exponential ``base * factor**(attempt-1)`` capped at ``cap``; with jitter the wait is
        ``rand`` (0..1, from the caller so tests are deterministic) times that ("full jitter").
        """
        exp = self.base_seconds * self.factor ** max(attempt - 1, 0)
        delay = min(exp, self.cap_seconds)
        return delay * rand if self.jitter else delay


@dataclass(frozen=True)
class TaskDefinition:
    """A named thing to run, with its optional schedule and default policies."""

    name: str
    target: Target
    schedule: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    timeout_seconds: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    enabled: bool = True
    description: str = ""
    priority: int = DEFAULT_PRIORITY
    tags: tuple[str, ...] = ()
    args: tuple[Any, ...] = ()  # passed to scheduled and triggered runs of a Python task
    kwargs: dict[str, Any] = field(default_factory=dict)
    policies: Policies = field(default_factory=Policies)
    source: TaskSource = TaskSource.CODE

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ConfigError(
                f"must be > 0, got {self.timeout_seconds}", job=self.name, field="timeout"
            )

    @property
    def kind(self) -> TaskKind:
        return self.target.kind

    @property
    def max_attempts(self) -> int:
        return self.retry.max_retries + 1


@dataclass(frozen=True)
class TaskPause:
    """Why, by whom and until when a task's schedule does not fire (``until`` None: until it is
    resumed). The operator's state, like ``enabled``: a definitions sync does not change it.
    From ``until`` on the pause is over, whether or not the store has cleared it yet."""

    paused_at: datetime
    paused_by: str
    reason: str
    until: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def ended(
        self,
        task_name: str,
        first: datetime,
        next_after: Callable[[datetime], datetime],
        end: datetime,
    ) -> tuple[tuple[NewMissedFire, ...], datetime]:
        """The pause ending at ``end``: the fires it held back, from ``first`` (the task's
        next fire when it was paused) until before ``end``, as missed fires ``paused`` naming
        the reason and who paused (not replayed), and the task's next fire: its first at or
        after ``end`` (a fire at ``end`` itself fires)."""
        last = end.astimezone(UTC) - timedelta(microseconds=1)
        if first.astimezone(UTC) > last:
            return (), first
        detail = f"job paused by {self.paused_by}: {self.reason}"
        missed = missed_between(task_name, first, next_after, last, MissedReason.PAUSED, detail)
        return missed, next_after(last)


def new_pause(reason: str, until: datetime | None, paused_by: str, now: datetime) -> TaskPause:
    """A pause starting ``now``, checked: a reason of 1..``MAX_PAUSE_REASON`` characters, and
    an ``until`` with a UTC offset after ``now``. ``ConfigError`` naming the field otherwise."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ConfigError("a pause needs a reason", field="reason")
    if len(text) > MAX_PAUSE_REASON:
        raise ConfigError(
            f"must be at most {MAX_PAUSE_REASON} characters, got {len(text)}", field="reason"
        )
    if until is not None:
        if until.tzinfo is None or until.utcoffset() is None:
            raise ConfigError(f"{until.isoformat()} needs a UTC offset", field="until")
        if until <= now:
            raise ConfigError(
                f"must be in the future, got {until.isoformat()} (now {now.isoformat()})",
                field="until",
            )
    return TaskPause(paused_at=now, paused_by=paused_by, reason=text, until=until)


@dataclass(frozen=True)
class Task:
    """A definition as the store holds it, with its bookkeeping."""

    definition: TaskDefinition
    removed: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    pause: TaskPause | None = None
    # What auto-rescheduling changed of the schedule (domain.autoschedule), kept apart from it.
    auto: Override = field(default_factory=Override)

    def paused(self, now: datetime) -> bool:
        return self.pause is not None and self.pause.active(now)

    @property
    def name(self) -> str:
        return self.definition.name


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid name {name!r}: use letters, digits, '_', '-', '.', ':' (max 200)",
            field="name",
        )
    return name


def validate_python_path(path: str) -> str:
    if not _PYTHON_TARGET.fullmatch(path):
        raise ConfigError(
            f"invalid task path {path!r}: expected 'package.module:function'", field="task"
        )
    return path


def target_to_dict(target: Target) -> dict[str, Any]:
    """A JSON-able form of ``target`` for storage; ``target_from_dict`` reverses it."""
    if isinstance(target, PythonTarget):
        return {"kind": "python", "path": target.path}
    if isinstance(target, ShellTarget):
        return {"kind": "shell", "command": target.command, "cwd": target.cwd, "env": target.env}
    return {
        "kind": "http",
        "url": target.url,
        "method": target.method,
        "headers": target.headers,
        "json": target.json,
        "body": target.body,
        "expected_statuses": list(target.expected_statuses),
    }


def target_from_dict(data: dict[str, Any]) -> Target:
    kind = data.get("kind")
    if kind == "python":
        return PythonTarget(path=data["path"])
    if kind == "shell":
        return ShellTarget(command=data["command"], cwd=data.get("cwd"), env=data.get("env") or {})
    if kind == "http":
        return HttpTarget(
            url=data["url"],
            method=data.get("method", "GET"),
            headers=data.get("headers") or {},
            json=data.get("json"),
            body=data.get("body"),
            expected_statuses=tuple(data.get("expected_statuses") or ()),
        )
    raise ConfigError(f"unknown task kind {kind!r}", field="kind")
