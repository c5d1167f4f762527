"""Pruning on demand (``tickwork prune``, ``POST /api/prune``) and the audit entry of a pass."""

from __future__ import annotations

from tickwork.domain.retention import PruneReport
from tickwork.runtime.pruner import Pruner
from tickwork.service.context import Context

PRUNE_ACTION = "retention.prune"


async def prune(ctx: Context, *, dry_run: bool = False) -> PruneReport:
    """One pass of the pruner under ``ctx.retention``, as ``ctx.actor``; audited unless it was a
    dry run or another process was pruning (``report.skipped``)."""
    report = await Pruner(ctx.store, ctx.retention, clock=ctx.clock).prune(dry_run=dry_run)
    if not dry_run and not report.skipped:
        await record_prune(ctx, report)
    return report


async def record_prune(ctx: Context, report: PruneReport) -> None:
    """The audit entry of a pass: what it removed, by kind (``processor:<id>`` for a worker's
    own passes, the caller's name for those asked for)."""
    await ctx.audit(
        PRUNE_ACTION,
        "retention",
        "store",
        after={
            "removed": report.counts,
            "total": report.total,
            "batches": report.batches,
            "seconds": round(report.seconds, 3),
        },
    )
