"""tickwork: cron-job manager and background-job processor (SQLite embedded, PostgreSQL distributed)."""

from tickwork.app import TaskHandle, Tickwork
from tickwork.domain.jobs import JobState, RunStatus, TriggeredBy
from tickwork.domain.tasks import RetryPolicy
from tickwork.errors import ConfigError, InvalidStateError, NotFoundError, StoreError, TickworkError
from tickwork.version import __version__

__all__ = [
    "ConfigError",
    "InvalidStateError",
    "JobState",
    "NotFoundError",
    "RetryPolicy",
    "RunStatus",
    "StoreError",
    "TaskHandle",
    "TickworkError",
    "Tickwork",
    "TriggeredBy",
    "__version__",
]
