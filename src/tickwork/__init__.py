"""tickwork: cron jobs and background jobs (SQLite embedded, PostgreSQL distributed)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tickwork.app import TaskHandle, Tickwork
    from tickwork.domain.jobs import JobState, RunStatus, TriggeredBy
    from tickwork.domain.tasks import RetryPolicy
    from tickwork.errors import (
        ConfigError,
        Fail,
        InvalidStateError,
        NotFoundError,
        Retry,
        StoreError,
        TickworkError,
    )
    from tickwork.runtime.guards import Defer, JobContext, Skip
    from tickwork.runtime.report import report

# Public names and their modules; imported on first use so that `import tickwork.x` in a worker
# does not pay for the whole application layer.
_EXPORTS = {
    "TaskHandle": "tickwork.app",
    "Tickwork": "tickwork.app",
    "JobState": "tickwork.domain.jobs",
    "RunStatus": "tickwork.domain.jobs",
    "TriggeredBy": "tickwork.domain.jobs",
    "RetryPolicy": "tickwork.domain.tasks",
    "ConfigError": "tickwork.errors",
    "Fail": "tickwork.errors",
    "Retry": "tickwork.errors",
    "InvalidStateError": "tickwork.errors",
    "NotFoundError": "tickwork.errors",
    "StoreError": "tickwork.errors",
    "TickworkError": "tickwork.errors",
    "report": "tickwork.runtime.report",
    "Skip": "tickwork.runtime.guards",
    "Defer": "tickwork.runtime.guards",
    "JobContext": "tickwork.runtime.guards",
    "__version__": "tickwork.version",
}

__all__ = [
    "ConfigError",
    "Defer",
    "Fail",
    "InvalidStateError",
    "JobContext",
    "JobState",
    "NotFoundError",
    "Retry",
    "RetryPolicy",
    "RunStatus",
    "Skip",
    "StoreError",
    "TaskHandle",
    "Tickwork",
    "TickworkError",
    "TriggeredBy",
    "__version__",
    "report",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tickwork' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
