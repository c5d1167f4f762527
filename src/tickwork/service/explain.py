"""The use case "why did (or didn't) this job run around this time?": reads what the store
recorded for a window of fires (jobs, missed fires, holds, the definition's audit entries, the
processors) and hands it to ``domain.explain``, which composes the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.access import AuditQuery
from tickwork.domain.activity import MissedFireQuery
from tickwork.domain.explain import (
    DEFAULT_WINDOW_SECONDS,
    MAX_CHANGES_READ,
    MAX_EXPLAINED_FIRES,
    ExplainFacts,
    Explanation,
    explain,
)
from tickwork.domain.jobs import PENDING_STATES
from tickwork.domain.queries import JobQuery
from tickwork.domain.schedules import Schedule, parse_schedule
from tickwork.errors import ConfigError
from tickwork.service.context import Context
from tickwork.service.definitions import task_named

# The widest window asked about, each side of the time.
MAX_WINDOW_SECONDS = 7 * 86400
# The times asked about: far enough from datetime's limits for any window and schedule walk.
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_LATEST = datetime(2999, 12, 31, tzinfo=UTC)
# Records read per kind at most: the fires answered and as many of earlier schedules.
_RECORDS_READ = 2 * MAX_EXPLAINED_FIRES


async def explain_job(
    ctx: Context,
    name: str,
    at: datetime | None = None,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> Explanation:
    """Why the job ``name`` did or did not run from ``at - window`` to ``at + window`` (``at``
    default now). ``NotFoundError`` for an unknown job, ``ConfigError`` naming ``at`` or
    ``window`` when they are not valid."""
    now = ctx.clock.now()
    if at is None:
        at = now
    elif at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError(f"time {at.isoformat()} has no UTC offset", field="at")
    if not _EARLIEST <= at.astimezone(UTC) <= _LATEST:
        raise ConfigError(
            f"must be between {_EARLIEST:%Y} and {_LATEST:%Y}, got {at.isoformat()}", field="at"
        )
    if not 0 < window_seconds <= MAX_WINDOW_SECONDS:
        raise ConfigError(
            f"must be more than 0 and at most 7 days, got {window_seconds:g} seconds",
            field="window",
        )
    task = await task_named(ctx, name)
    window = timedelta(seconds=window_seconds)
    start, end = at - window, at + window
    store = ctx.store
    jobs = await store.query_jobs(
        JobQuery(
            task_name=name, fire_from=start, fire_to=end, oldest_first=True, limit=_RECORDS_READ
        )
    )
    missed = await store.query_missed_fires(
        MissedFireQuery(task_name=name, fire_from=start, fire_to=end, limit=_RECORDS_READ)
    )
    pending = [j.id for j in jobs if j.state in PENDING_STATES]
    holds = await store.explain_holds(pending, now, ctx.rules) if pending else {}
    changes = await store.query_audit(
        AuditQuery(target_type="job", target=name, action="job.", until=end, limit=MAX_CHANGES_READ)
    )
    changes = [e for e in changes if e.action not in _NOT_CHANGES]
    processors = await store.list_processors()
    schedule: Schedule | None = None
    if task.definition.schedule is not None:
        try:
            schedule = parse_schedule(task.definition.schedule, task.definition.timezone)
        except ConfigError:
            schedule = None
    facts = ExplainFacts(
        task=task,
        now=now,
        at=at,
        window=window,
        jobs=jobs,
        missed=missed,
        holds=holds,
        changes=changes,
        processors=processors,
        schedule=schedule,
    )
    return explain(facts)


# Audited job.* actions that do not change the definition or its state.
_NOT_CHANGES = frozenset({"job.trigger"})
