"""tickwork: cron jobs and background jobs (SQLite embedded, PostgreSQL distributed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwork.lazy import lazy_exports

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
    from tickwork.runtime.activity import event, progress
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
    "progress": "tickwork.runtime.activity",
    "event": "tickwork.runtime.activity",
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
    "event",
    "progress",
    "report",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
