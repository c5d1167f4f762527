"""``Failures``: the failed jobs of a range grouped by error (``domain/failures.py``), and what
an operator does with a whole group: retry every job of it, or discard it.

Both actions acknowledge the group up to its last failure (``tickwork_failure_acks``): its
failures leave the list, so a second "retry all" does not queue the same jobs again, and a new
failure of the same error brings the group back. Jobs and runs are never changed.
"""

from __future__ import annotations

import re

from tickwork.domain.failures import (
    FAILURE_LIMIT,
    FailureGroup,
    FailureReport,
    fingerprinted,
    group_failures,
)
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.activity import since_of
from tickwork.service.context import Context
from tickwork.service.jobs import Jobs

DEFAULT_SINCE = "7d"
# A fingerprint, or the start of one long enough to name one group (as tables show them).
_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")


class Failures:
    def __init__(self, ctx: Context, jobs: Jobs) -> None:
        self.ctx = ctx
        self.jobs = jobs

    async def report(
        self, *, since: str = DEFAULT_SINCE, task: str | None = None, limit: int = FAILURE_LIMIT
    ) -> FailureReport:
        """The groups of the failed jobs that finished since ``since`` (``7d`` or an ISO
        time), of one task if given: the newest ``limit`` failed jobs are read (``capped``
        says when there were more), through the store's index of failed jobs."""
        if not 1 <= limit <= FAILURE_LIMIT:
            raise ConfigError(f"must be from 1 to {FAILURE_LIMIT}, got {limit}", field="limit")
        store = self.ctx.store
        end = self.ctx.clock.now()
        start = since_of(since, end)
        failed = await store.failed_jobs(start, end, task, limit + 1)
        capped = len(failed) > limit
        printed = fingerprinted(failed[:limit])
        acks = await store.failure_acks(sorted({p.fingerprint for _, p in printed}))
        return FailureReport(
            start=start,
            end=end,
            task_name=task,
            groups=group_failures(printed, acks),
            read=len(printed),
            limit=limit,
            capped=capped,
        )

    async def group(self, fingerprint: str, *, since: str = DEFAULT_SINCE) -> FailureGroup:
        """The group of ``fingerprint`` (or of the one fingerprint starting with it) in the
        range; ``NotFoundError`` if it has no unacknowledged failure there."""
        wanted = fingerprint.strip().lower()
        if not _FINGERPRINT.fullmatch(wanted):
            raise ConfigError(
                f"expected 8 to 64 hex digits of a fingerprint, got {fingerprint[:70]!r}",
                field="fingerprint",
            )
        report = await self.report(since=since)
        found = [g for g in report.groups if g.fingerprint.startswith(wanted)]
        if not found:
            raise NotFoundError(f"no failures with fingerprint {wanted} since {since}")
        if len(found) > 1:
            raise ConfigError(
                f"{wanted} starts {len(found)} fingerprints; give more of it", field="fingerprint"
            )
        return found[0]

    async def retry(self, fingerprint: str, *, since: str = DEFAULT_SINCE) -> int:
        """Run each failed job of the group again (``Jobs.retry``: a new job each, audited),
        then acknowledge the group; returns how many jobs were queued."""
        group = await self.group(fingerprint, since=since)
        queued = 0
        for ref in group.jobs:
            try:
                await self.jobs.retry(ref.job_id)
            except NotFoundError:
                continue  # pruned since it was read: nothing left to run again
            queued += 1
        await self._acknowledge(group, "failure.retry", queued)
        return queued

    async def discard(self, fingerprint: str, *, since: str = DEFAULT_SINCE) -> int:
        """Acknowledge the group: its failures leave the list, their jobs and runs stay.
        Returns how many failed jobs it had."""
        group = await self.group(fingerprint, since=since)
        await self._acknowledge(group, "failure.discard", group.count)
        return group.count

    async def _acknowledge(self, group: FailureGroup, action: str, count: int) -> None:
        # Up to the group's last failure read, not to now: one that finished in between was
        # not seen, so it stays listed.
        ctx = self.ctx
        await ctx.store.acknowledge_failures(
            group.fingerprint, group.last_seen, ctx.clock.now(), ctx.actor.name
        )
        await ctx.audit(
            action,
            "failure",
            group.fingerprint,
            after={
                "jobs": count,
                "error_type": group.error_type,
                "message": group.message,
                "tasks": dict(group.tasks),
                "acknowledged_until": group.last_seen.isoformat(),
            },
        )
