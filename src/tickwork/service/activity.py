"""The use cases of what runs tell and what did not run: a job's progress and events, page by
page, and the missed fires of schedules, listed and counted per task."""

from __future__ import annotations

from datetime import datetime, timedelta

from tickwork.domain.activity import (
    OUTPUT_PIECES_KEPT,
    MissedCount,
    MissedFire,
    MissedFireQuery,
    RunEvent,
    RunEventKind,
    RunEventQuery,
)
from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.definitions import task_named
from tickwork.service.queries import check_aware, check_limit


class Activity:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run_events(
        self,
        job_id: int,
        *,
        attempt: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[RunEvent]:
        """A job's progress and events, oldest first (of one attempt if given), after the
        event ``after_id``. ``NotFoundError`` for an unknown job, ``ConfigError`` for a bad
        page."""
        check_limit(limit)
        if attempt is not None and attempt < 1:
            raise ConfigError(f"must be >= 1, got {attempt}", field="attempt")
        if after_id is not None and after_id < 0:
            raise ConfigError(f"must be >= 0, got {after_id}", field="after")
        if await self.ctx.store.get_job(job_id) is None:
            raise NotFoundError(f"no queued job with ID {job_id}")
        query = RunEventQuery(job_id=job_id, attempt=attempt, after_id=after_id, limit=limit)
        return await self.ctx.store.query_run_events(query)

    async def latest_events(
        self,
        job_id: int,
        attempt: int,
        *,
        kind: RunEventKind | None = None,
        limit: int = 10,
    ) -> list[RunEvent]:
        """The last ``limit`` events (of ``kind``, if given) of an attempt of a job, newest
        first: what a page shows of a run in progress."""
        check_limit(limit)
        query = RunEventQuery(
            job_id=job_id, attempt=attempt, kind=kind, newest_first=True, limit=limit
        )
        return await self.ctx.store.query_run_events(query)

    async def latest_progress(self, job_id: int, attempt: int) -> RunEvent | None:
        """The last progress an attempt of a job reported (None: none yet); one row read."""
        found = await self.latest_events(job_id, attempt, kind=RunEventKind.PROGRESS, limit=1)
        return found[0] if found else None

    async def live_output(self, job_id: int, attempt: int) -> str:
        """What a running attempt of a job wrote so far (its newest pieces, in order); "" when
        nothing, or when it ended (its run holds the output then)."""
        pieces = await self.latest_events(
            job_id, attempt, kind=RunEventKind.OUTPUT, limit=OUTPUT_PIECES_KEPT
        )
        return "".join(p.message or "" for p in reversed(pieces))

    async def missed_fires(self, query: MissedFireQuery) -> list[MissedFire]:
        """A page of missed fires, newest first. ``NotFoundError`` for a task that was never
        defined, ``ConfigError`` for a bad page or a naive time."""
        await self._check(query)
        return await self.ctx.store.query_missed_fires(query)

    async def missed_counts(self, query: MissedFireQuery) -> list[MissedCount]:
        """Missed fires per task and reason (the query's filters; its paging is ignored)."""
        await self._check(query)
        return await self.ctx.store.count_missed_fires(query)

    async def _check(self, query: MissedFireQuery) -> None:
        check_limit(query.limit)
        check_aware(query.since, "since")
        if query.since is not None and query.since > self.ctx.clock.now():
            raise ConfigError(f"{query.since.isoformat()} is in the future", field="since")
        if query.task_name is not None:
            await task_named(self.ctx, query.task_name)


# Ten years: a longer "since" is a mistake (and beyond what datetimes can subtract).
MAX_SINCE_SECONDS = 10 * 365 * 86400.0


def since_of(text: str, now: datetime, *, field: str = "since") -> datetime:
    """``--since``: a duration back from ``now`` (``7d``, ``12h``) or a time with its UTC
    offset (``2026-01-01T00:00:00Z``); ``ConfigError`` naming ``field`` otherwise."""
    value = text.strip()
    try:
        seconds = parse_duration(value, field=field)
    except ConfigError:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(
                f"expected a duration like '7d' or a time like '2026-01-01T00:00:00Z', got "
                f"{text[:40]!r}",
                field=field,
            ) from None
        check_aware(when, field)
        return when
    if seconds > MAX_SINCE_SECONDS:
        raise ConfigError(f"at most 10 years back, got {text!r}", field=field)
    return now - timedelta(seconds=seconds)
