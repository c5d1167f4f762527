"""``Service``: the one object an adapter calls for definitions, jobs, runs, status and the
audit log. It holds no rule of its own: each method hands over to one use case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tickwork.clock import Clock
from tickwork.domain.access import AuditEntry, AuditQuery, Principal
from tickwork.domain.activity import (
    MissedCount,
    MissedFire,
    MissedFireQuery,
    RunEvent,
    RunEventKind,
)
from tickwork.domain.admission import Hold
from tickwork.domain.backfills import Backfill, BackfillResult
from tickwork.domain.explain import DEFAULT_WINDOW_SECONDS, Explanation
from tickwork.domain.failures import FAILURE_LIMIT, FailureReport
from tickwork.domain.fire_notes import NotedFire
from tickwork.domain.jobs import Job, JobState, Run, RunMark, TriggeredBy
from tickwork.domain.load import DEFAULT_DAYS
from tickwork.domain.processors import DEFAULT_HEARTBEAT_SECONDS
from tickwork.domain.queries import SyncReport
from tickwork.domain.report import Report
from tickwork.domain.retention import PruneReport
from tickwork.domain.stats import ALL_PARTS, TrendPoint
from tickwork.domain.tasks import Task, TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.service import audit, retention
from tickwork.service.activity import Activity
from tickwork.service.alerts import Alerts
from tickwork.service.autoschedule import AutoSchedules
from tickwork.service.backfills import DEFAULT_LIST_LIMIT, Backfills
from tickwork.service.checks import Checks
from tickwork.service.context import Context
from tickwork.service.definitions import BulkReport, Definitions, task_table
from tickwork.service.dependencies import DependencyView
from tickwork.service.explain import explain_job
from tickwork.service.failures import DEFAULT_SINCE, Failures
from tickwork.service.jobs import EnqueueRequest, Jobs
from tickwork.service.load import LoadPreview, load_preview
from tickwork.service.queries import JobQuery, QueueStats, RunQuery, TaskFilter, TaskPage
from tickwork.service.report import Reports, SentReport
from tickwork.service.runs import Runs
from tickwork.service.stats import StatsReport, per_minute, request_of, stats_report
from tickwork.service.status import Status, cluster_status
from tickwork.store.base import Store


class Service:
    """The use cases over one context. Adapters parse input, call one method, render the result."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.definitions = Definitions(ctx)
        self.jobs = Jobs(ctx)
        self.runs = Runs(ctx)
        self.activity = Activity(ctx)
        self.failure_groups = Failures(ctx, self.jobs)
        # Alert rules, states, history, ack/mute, channel tests (``service/alerts.py``).
        self.alerts = Alerts(ctx)
        # Past ranges of a schedule run again, cancellable as a whole (``service/backfills.py``).
        self.backfills = Backfills(ctx)
        # Heartbeat checks and their pings (``service/checks.py``).
        self.checks = Checks(ctx)
        # The weekly report: made, drawn, sent (``service/report.py``), checks' uptime in it.
        self.reports = Reports(ctx, self.failure_groups, self.alerts, self.checks.uptimes)
        # Auto-rescheduling's overrides undone (``service/autoschedule.py``).
        self.autoschedules = AutoSchedules(ctx)

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def audit_enqueues(self) -> bool:
        return self.ctx.audit_enqueues

    def as_actor(self, actor: Principal, request_id: str | None = None) -> Service:
        """This service acting for ``actor`` (one per API request); shares store and caches."""
        return Service(self.ctx.acting_for(actor, request_id))

    # --- definitions -----------------------------------------------------------------------
    async def sync_definitions(
        self, definitions: Sequence[TaskDefinition], sources: Sequence[TaskSource]
    ) -> SyncReport:
        return await self.definitions.sync(definitions, sources)

    async def register_missing(self, definitions: Sequence[TaskDefinition]) -> list[str]:
        return await self.definitions.register_missing(definitions)

    async def get_task(self, name: str) -> Task:
        return await self.definitions.get(name)

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]:
        return await self.definitions.tasks(include_removed=include_removed)

    async def search_tasks(
        self,
        query: TaskFilter,
        *,
        after: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        with_last: bool = True,
    ) -> TaskPage:
        return await self.definitions.search(
            query, after=after, offset=offset, limit=limit, with_last=with_last
        )

    async def undo_reschedule(self, name: str) -> Task:
        """The job's defined schedule back: what auto-rescheduling changed undone (audited)."""
        return await self.autoschedules.undo(name)

    async def set_enabled(self, name: str, enabled: bool) -> Task:
        return await self.definitions.set_enabled(name, enabled)

    async def bulk_tasks(
        self, query: TaskFilter, action: str, *, triggered_by: TriggeredBy = TriggeredBy.MANUAL
    ) -> BulkReport:
        return await self.definitions.bulk(query, action, triggered_by=triggered_by)

    async def pause_task(self, name: str, reason: str, until: datetime | None = None) -> Task:
        return await self.definitions.pause(name, reason, until)

    async def resume_task(self, name: str) -> Task:
        return await self.definitions.resume(name)

    async def preview_job(
        self, name: str, after: datetime, count: int
    ) -> list[tuple[datetime, datetime]]:
        return await self.definitions.preview(name, after, count)

    async def preview_job_noted(self, name: str, after: datetime, count: int) -> list[NotedFire]:
        """``preview_job`` with each fire's daylight-saving and calendar notes."""
        return await self.definitions.preview_noted(name, after, count)

    async def create_task(self, table: dict[str, Any]) -> Task:
        return await self.definitions.create(table)

    async def update_task(self, name: str, changes: dict[str, Any]) -> Task:
        return await self.definitions.update(name, changes)

    async def task_change_problems(self, name: str, changes: dict[str, Any]) -> list[ConfigError]:
        return await self.definitions.problems(name, changes)

    async def delete_task(self, name: str) -> Task:
        return await self.definitions.delete(name)

    async def dependencies(self) -> DependencyView:
        """The dependencies among the live definitions (``after`` and ``requires``)."""
        return await self.ctx.dependencies.view()

    def task_table(self, task: Task) -> dict[str, Any]:
        return task_table(task)

    # --- backfills -------------------------------------------------------------------------
    async def backfill(
        self,
        name: str,
        start: datetime,
        end: datetime,
        *,
        overlap: str = "queue",
        max_fires: int | None = None,
        dry_run: bool = False,
    ) -> BackfillResult:
        return await self.backfills.backfill(
            name, start, end, overlap=overlap, max_fires=max_fires, dry_run=dry_run
        )

    async def list_backfills(
        self, task_name: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[Backfill]:
        return await self.backfills.list_backfills(task_name, limit)

    async def get_backfill(self, backfill_id: int) -> Backfill:
        return await self.backfills.get(backfill_id)

    async def cancel_backfill(self, backfill_id: int) -> tuple[Backfill, int]:
        return await self.backfills.cancel(backfill_id)

    # --- jobs ------------------------------------------------------------------------------
    async def enqueue(
        self, req: EnqueueRequest, *, triggered_by: TriggeredBy = TriggeredBy.API
    ) -> int:
        return await self.jobs.enqueue(req, triggered_by=triggered_by)

    async def enqueue_many(
        self, reqs: Sequence[EnqueueRequest], *, triggered_by: TriggeredBy = TriggeredBy.API
    ) -> list[int]:
        return await self.jobs.enqueue_many(reqs, triggered_by=triggered_by)

    async def trigger(self, name: str, *, triggered_by: TriggeredBy = TriggeredBy.MANUAL) -> int:
        return await self.jobs.trigger(name, triggered_by=triggered_by)

    async def retry(self, job_id: int) -> int:
        return await self.jobs.retry(job_id)

    async def get_job(self, job_id: int) -> Job:
        return await self.jobs.get(job_id)

    async def list_jobs(
        self,
        *,
        task_name: str | None = None,
        states: Sequence[JobState] | None = None,
        limit: int = 100,
    ) -> list[Job]:
        return await self.jobs.list_jobs(task_name=task_name, states=states, limit=limit)

    async def query_jobs(self, query: JobQuery) -> list[Job]:
        return await self.jobs.query(query)

    async def reschedule(self, job_id: int, at: datetime) -> Job:
        return await self.jobs.reschedule(job_id, at)

    async def explain(self, job_id: int) -> Hold | None:
        return await self.jobs.explain(job_id)

    async def holds_of(self, jobs: Sequence[Job]) -> dict[int, Hold]:
        return await self.jobs.holds_of(jobs)

    async def reset_stuck(self, older_than_seconds: float) -> list[Job]:
        return await self.jobs.reset_stuck(older_than_seconds)

    async def cancel(self, job_id: int, reason: str = "cancelled by request") -> Job:
        return await self.jobs.cancel(job_id, reason)

    async def queue_stats(self) -> QueueStats:
        return await self.jobs.queue_stats()

    async def process_now(self) -> int:
        return await self.jobs.process_now()

    # --- failures grouped by error -----------------------------------------------------------
    async def failures(
        self, *, since: str = DEFAULT_SINCE, task: str | None = None, limit: int = FAILURE_LIMIT
    ) -> FailureReport:
        return await self.failure_groups.report(since=since, task=task, limit=limit)

    async def retry_failures(self, fingerprint: str, *, since: str = DEFAULT_SINCE) -> int:
        return await self.failure_groups.retry(fingerprint, since=since)

    async def discard_failures(self, fingerprint: str, *, since: str = DEFAULT_SINCE) -> int:
        return await self.failure_groups.discard(fingerprint, since=since)

    # --- runs, status, audit ---------------------------------------------------------------
    async def history(self, name: str, *, limit: int = 20) -> list[Run]:
        return await self.runs.history(name, limit=limit)

    async def query_runs(self, query: RunQuery) -> list[Run]:
        return await self.runs.query(query)

    async def recent_runs(
        self, task_names: Sequence[str], per_task: int
    ) -> dict[str, list[RunMark]]:
        return await self.runs.recent(task_names, per_task)

    async def get_run(self, run_id: int) -> Run:
        return await self.runs.get(run_id)

    async def runs_of_job(self, job_id: int) -> list[Run]:
        return await self.runs.of_job(job_id)

    async def run_events(
        self,
        job_id: int,
        *,
        attempt: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[RunEvent]:
        return await self.activity.run_events(
            job_id, attempt=attempt, after_id=after_id, limit=limit
        )

    async def latest_progress(self, job_id: int, attempt: int) -> RunEvent | None:
        return await self.activity.latest_progress(job_id, attempt)

    async def live_output(self, job_id: int, attempt: int) -> str:
        return await self.activity.live_output(job_id, attempt)

    async def latest_events(
        self, job_id: int, attempt: int, *, kind: RunEventKind | None = None, limit: int = 10
    ) -> list[RunEvent]:
        return await self.activity.latest_events(job_id, attempt, kind=kind, limit=limit)

    async def missed_fires(self, query: MissedFireQuery) -> list[MissedFire]:
        return await self.activity.missed_fires(query)

    async def missed_counts(self, query: MissedFireQuery) -> list[MissedCount]:
        return await self.activity.missed_counts(query)

    async def status(
        self,
        *,
        heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        finished: bool = True,
    ) -> Status:
        return await cluster_status(self.ctx, heartbeat_interval_seconds, finished=finished)

    async def stats(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        key: str | None = None,
        trigger: str | None = None,
        parts: frozenset[str] = ALL_PARTS,
    ) -> StatsReport:
        """Run statistics from the rollups (``service/stats.py``); the range's edges as text
        (``7d`` back from now, an ISO time, a date); only ``parts`` are read."""
        request = request_of(
            self.ctx.clock.now(),
            since=since,
            until=until,
            task=task,
            tag=tag,
            key=key,
            trigger=trigger,
        )
        return await stats_report(self.ctx.store, request, parts)

    async def runs_per_minute(self, minutes: int = 60) -> list[TrendPoint]:
        """Runs per minute (every task) over the last ``minutes``, from the rollups."""
        return await per_minute(self.ctx.store, self.ctx.clock.now(), minutes)

    async def audit_log(self, query: AuditQuery) -> list[AuditEntry]:
        return await audit.audit_log(self.ctx.store, query)

    # --- the weekly report ------------------------------------------------------------------
    async def report(self, *, since: str | None = None) -> Report:
        return await self.reports.build(since)

    async def send_report(self, *, since: str | None = None) -> tuple[Report, SentReport]:
        report = await self.reports.build(since)
        return report, await self.reports.send(report)

    # --- retention -------------------------------------------------------------------------
    async def prune(self, *, dry_run: bool = False) -> PruneReport:
        return await retention.prune(self.ctx, dry_run=dry_run)

    # --- explain and the load preview --------------------------------------------------------
    async def explain_job(
        self, name: str, at: datetime | None = None, window_seconds: float | None = None
    ) -> Explanation:
        """Why a job did or did not run around ``at`` (default now): ``service/explain.py``."""
        window = DEFAULT_WINDOW_SECONDS if window_seconds is None else window_seconds
        return await explain_job(self.ctx, name, at, window)

    async def load_preview(self, days: int = DEFAULT_DAYS) -> LoadPreview:
        """A week's (``days``) expected starts and concurrency: ``service/load.py``."""
        return await load_preview(self.ctx, days)
