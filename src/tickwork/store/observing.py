"""The store's roles for what runs tell and what is kept of them: run events and missed fires
(``RunEventWrites``, ``Activity``), the cluster's figures for ``/metrics`` (``Figures``), the
analytics' rollups (``Rollups``), heartbeat checks' ping history (``CheckHistory``) and
retention (``Pruning``). ``store.base`` composes them into
``RuntimeStore`` and ``Store``; the same contract rules apply (coroutines, aware UTC, atomic)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tickwork.domain.activity import (
    MissedCount,
    MissedFire,
    MissedFireQuery,
    NewMissedFire,
    NewRunEvent,
    OutputTrim,
    RunEvent,
    RunEventQuery,
)
from tickwork.domain.checks import Check
from tickwork.domain.insights import Surroundings
from tickwork.domain.metrics import ClusterFigures
from tickwork.domain.retention import PruneTarget, RetentionPolicy
from tickwork.domain.stats import RollupData, RollupQuery
from tickwork.domain.uptime import HourFigures, KeptHours, PingHistory


class RunEventWrites(Protocol):
    """A worker's side of run events: what running jobs emitted."""

    async def add_run_events(
        self, events: Sequence[NewRunEvent], trims: Sequence[OutputTrim] = ()
    ) -> None:
        """Store the events in one transaction, their IDs ascending in the given order, and
        remove the output pieces the trims say (``OutputTrim``)."""
        ...


class Activity(Protocol):
    """Run events and missed fires, read; missed fires the use cases see (a disabled task's)."""

    async def query_run_events(self, query: RunEventQuery) -> list[RunEvent]:
        """A page of run events, oldest first (``RunEventQuery``)."""
        ...

    async def latest_run_event_id(self) -> int:
        """The largest run event ID (0 when there are none)."""
        ...

    async def add_missed_fires(self, fires: Sequence[NewMissedFire], now: datetime) -> None:
        """Record missed fires (``recorded_at`` ``now``) in one transaction, IDs in order."""
        ...

    async def query_missed_fires(self, query: MissedFireQuery) -> list[MissedFire]:
        """A page of missed fires: newest first by ID, oldest first when ``after_id`` is given."""
        ...

    async def count_missed_fires(self, query: MissedFireQuery) -> list[MissedCount]:
        """Missed fires matching the query's filters (paging fields ignored), counted by task
        and reason with the latest fire time of each, sorted by task name then reason."""
        ...


class Figures(Protocol):
    """The cluster's figures for the metrics endpoint, read together."""

    async def cluster_figures(self, now: datetime) -> ClusterFigures:
        """One ``ClusterFigures`` at ``now``, read in one transaction: lifetime run counts,
        durations and waits from the rollups (period 0; durations of succeeded, failed,
        timed-out and cancelled runs only), jobs by active state (every active state present,
        0 when none), the earliest due time of the pending jobs due by ``now``, each not
        removed task's latest successful run's ``finished_at`` (the run started last among its
        successes; absent without one), each firing schedule's ``next_fire_at``, missed fires
        counted by (task, reason), and every processor row.

        Its cost grows with the defined tasks and the active jobs, not with the history."""


class Rollups(Protocol):
    """The analytics' reads: rollups that ``complete`` and the interrupted runs keep current
    (``store/rollups.py``), never scans of the runs table; and missed fires, counted."""

    async def read_rollups(self, query: RollupQuery) -> RollupData:
        """The rollups of ``query``'s period whose bucket starts in ``[query.first_bucket,
        query.end)`` (per-key and error rows: hour buckets from the hour of ``query.start``),
        summed in one transaction: per task, measure, status and bucket; per bucket start and
        status (durations); per task, key and status; per task and fingerprint. With
        ``query.key`` only the per-key figures (the series from them), the rest empty."""
        ...

    async def failing_since(self, task_names: Sequence[str]) -> dict[str, datetime]:
        """Per task of ``task_names``, the hour of its first failed or timed-out run since its
        last succeeded one (hour resolution); tasks without a failure since then are absent."""
        ...

    async def missed_fire_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        """Per task, its fires in ``[start, end)`` that did not become runs, by reason."""
        ...

    async def insight_surroundings(
        self, now: datetime, failing: Sequence[str], start: datetime, end: datetime
    ) -> Surroundings:
        """In one read: the pending jobs due by ``now`` and the earliest due time among them,
        every processor, the control's ``max_concurrent_jobs``, ``missed_fire_counts(start,
        end)`` and ``failing_since(failing)``."""
        ...


class PruneLock(Protocol):
    """Held by one pruning pass; ``Pruning.lock_pruning`` gives it."""

    async def release(self) -> None:
        """Let the next pass prune; safe to call twice."""


class CheckHistory(Protocol):
    """What the weekly report replays of heartbeat checks' pings (``domain/uptime.py``)."""

    async def check_histories(
        self, start: datetime, end: datetime
    ) -> list[tuple[Check, PingHistory]]:
        """Every check (by name) with its pings of ``[start, end)``, its last finish and last
        start before ``start``, and how many pings of it are stored, read in one transaction
        (the checks' ping counts agree with the pings); bodies are not read."""
        ...

    async def check_hours(self, start: datetime, end: datetime) -> list[KeptHours]:
        """What is kept of each check's hours starting in ``[start, end)``: their seconds by
        status summed, and the runs of hours they make."""
        ...

    async def keep_check_hours(self, figures: Sequence[HourFigures]) -> None:
        """Keep the figures of settled hours; an hour already kept stays as it was."""
        ...


class Pruning(Protocol):
    """Removing what retention lets go (``runtime.pruner``), in short transactions."""

    # "sqlite": one writer at a time, so a batch holds up every other write while it runs.
    dialect: str

    async def lock_pruning(self) -> PruneLock | None:
        """The right to prune, or None while another pass holds it: one pass per process, and
        on PostgreSQL one across processes (a session advisory lock on a connection of its
        own, held until ``release``)."""
        ...

    async def prune_targets(self, policy: RetentionPolicy, now: datetime) -> list[PruneTarget]:
        """The steps of a pass at ``now``, in the order they must run: runs (per task,
        keeping each task's newest ``keep_last_runs`` and the runs of pending or running
        jobs), run events by age, finished jobs with their run events (older than their
        task's runs cutoff, with none of their runs kept; never a scheduled, available,
        retrying or running job), the audit log, missed fires, rollups and series rollups
        (minute rows, hour rows; the day and all-time rows stay), key and error rollups (hour
        rows; the day rows stay), alert transitions by age (never those of an incident still
        firing: its subject's state is firing and the transition is not older than the
        incident), checks' pings by age (each check's newest ``keep_last_pings`` kept)."""
        ...

    async def prune_batch(self, target: PruneTarget, limit: int) -> dict[str, int]:
        """Remove at most ``limit`` rows of ``target`` in one transaction, with the rows that
        go with them (a job's run events); how many went, by kind (fewer than ``limit`` of
        ``target.kind``: the step is done)."""
        ...

    async def count_prunable(self, target: PruneTarget) -> dict[str, int]:
        """How many rows ``target`` would remove now, by kind (a dry run)."""
        ...
