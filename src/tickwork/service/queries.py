"""The query and report types adapters pass to and get from the use cases, and the bounds of
one page. The types are the domain's (the store answers them); adapters import them here."""

from __future__ import annotations

from datetime import datetime

from tickwork.domain.access import AuditEntry, AuditQuery
from tickwork.domain.activity import (
    MissedCount,
    MissedFire,
    MissedFireQuery,
    MissedReason,
    RunEvent,
    parse_reasons,
)
from tickwork.domain.queries import (
    FAILING,
    NEVER_RAN,
    RUN_SORTS,
    ControlState,
    JobQuery,
    ProcessorInfo,
    QueueStats,
    RunQuery,
    RunStats,
    TaskFilter,
    TaskPage,
)
from tickwork.errors import ConfigError

__all__ = [
    "FAILING",
    "MAX_PAGE",
    "NEVER_RAN",
    "RUN_SORTS",
    "AuditEntry",
    "AuditQuery",
    "ControlState",
    "JobQuery",
    "MissedCount",
    "MissedFire",
    "MissedFireQuery",
    "MissedReason",
    "ProcessorInfo",
    "QueueStats",
    "RunEvent",
    "RunQuery",
    "RunStats",
    "TaskFilter",
    "TaskPage",
    "check_aware",
    "check_limit",
    "parse_reasons",
]

# The largest page of jobs, runs or audit entries one query returns.
MAX_PAGE = 1000


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"must be from 1 to {MAX_PAGE}, got {limit}", field="limit")


def check_aware(when: datetime | None, field: str) -> None:
    """Times from callers must carry their UTC offset: a naive one would be read as UTC."""
    if when is not None and when.tzinfo is None:
        raise ConfigError(f"time {when.isoformat()} has no UTC offset", field=field)
