"""The SQL store: the one ``Store`` for SQLite and PostgreSQL, composed of the shared SQL modules
and its dialect's ``Backend``.

Each method runs one function of an entity module (``tasks``, ``jobs``, ``runs``,
``processors``, ``accounts``, ``audit``, ``control``, ``activity``, ``metrics``,
``failures``) in a transaction on the store's threads (``Database``), or hands a hot path to
the backend, which runs it on its raw driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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
from tickwork.domain.admission import ClaimRules, Hold
from tickwork.domain.alert_records import (
    AlertKey,
    AlertWrite,
    ChannelHealth,
    TransitionQuery,
    TransitionRecord,
)
from tickwork.domain.alert_states import AlertState
from tickwork.domain.alerts import RunFact
from tickwork.domain.autoschedule import Override, OverrideWrite
from tickwork.domain.checks import Check, CheckSpec, Ping
from tickwork.domain.dependencies import DependencyGraph, ReleasePass
from tickwork.domain.failures import FailedJob
from tickwork.domain.insights import Surroundings
from tickwork.domain.jobs import Completion, Job, JobState, NewJob, Run, RunMark, RunStatus
from tickwork.domain.metrics import ClusterFigures
from tickwork.domain.queries import (
    ControlState,
    FirePlanner,
    JobQuery,
    ProcessorInfo,
    QueueStats,
    RunQuery,
    RunStats,
    SyncReport,
    TaskFilter,
    TaskPage,
)
from tickwork.domain.retention import PruneTarget, RetentionPolicy
from tickwork.domain.stats import RollupData, RollupQuery
from tickwork.domain.tasks import (
    DEFAULT_MAX_INTERRUPTIONS,
    Task,
    TaskDefinition,
    TaskPause,
    TaskSource,
)
from tickwork.domain.uptime import HourFigures, KeptHours, PingHistory
from tickwork.store import (
    activity,
    alerts,
    checks,
    control,
    dependencies,
    failures,
    insights,
    jobs,
    latest,
    metrics,
    overrides,
    ping_history,
    processors,
    retention,
    rollups,
    runs,
    tasks,
)
from tickwork.store.backend import Backend
from tickwork.store.backfills import SqlBackfills
from tickwork.store.base import Closeable
from tickwork.store.checking import CheckSyncReport, PingWrite, RecordedPing
from tickwork.store.database import Database
from tickwork.store.observing import PruneLock
from tickwork.store.rollup_cache import RollupCache
from tickwork.store.sql_access import SqlAccess


class SqlStore(SqlAccess, SqlBackfills):
    """The ``Store`` on a SQLAlchemy engine; ``open.create_store`` builds it for a URL. Its
    access roles (accounts, audit) are ``SqlAccess``'s, its backfills ``SqlBackfills``'s."""

    def __init__(self, db: Database, backend: Backend) -> None:
        self._db = db
        self._backend = backend
        self.engine: Engine = db.engine
        self.dialect = self._backend.name
        # Sums of past days the analytics read, kept while those days' run counts hold.
        self.rollup_cache = RollupCache()

    # --- life cycle ----------------------------------------------------------------------------
    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._backend.close()
        await self._db.close()

    async def ping(self) -> None:
        await self._db.read(_ping)

    def watch(
        self, on_change: Callable[[], None] | None, on_alerts: Callable[[], None] | None = None
    ) -> Closeable:
        return self._backend.watch(on_change, on_alerts)

    # --- the queue (hot paths on the backend) --------------------------------------------------
    async def enqueue(self, new_jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if not new_jobs:
            return []
        return await self._backend.enqueue(new_jobs, now)

    async def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
        *,
        horizon: datetime | None = None,
        rules: ClaimRules | None = None,
    ) -> list[Job]:
        lease_until = now + timedelta(seconds=lease_seconds)
        claimed = await self._backend.claim(
            worker_id, limit, now, lease_until, horizon or now, rules or ClaimRules()
        )
        claimed.sort(key=lambda j: (-j.priority, j.scheduled_at, j.id))
        return claimed

    async def complete(self, completions: Sequence[Completion]) -> list[int]:
        if not completions:
            return []
        return await self._backend.complete(completions)

    async def extend_leases(self, worker_id: str, job_ids: Sequence[int], until: datetime) -> None:
        if job_ids:
            await self._db.write(jobs.extend_leases, worker_id, job_ids, until)

    async def cancel_requests(self, worker_id: str) -> list[int]:
        return await self._db.read(jobs.cancel_requests, worker_id)

    async def release(
        self,
        worker_id: str,
        job_ids: Sequence[int],
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> int:
        if not job_ids:
            return 0
        return await self._db.write(
            jobs.release, self._backend, worker_id, job_ids, now, reason, max_interruptions
        )

    async def recover_expired(
        self, now: datetime, reason: str, *, max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    ) -> list[Job]:
        return await self._db.write(
            jobs.recover_expired, self._backend, now, reason, max_interruptions
        )

    async def next_due_time(self) -> datetime | None:
        return await self._db.read(jobs.next_due_time)

    # --- schedules ----------------------------------------------------------------------------
    async def release_dependents(
        self,
        graph: DependencyGraph,
        templates: Mapping[str, NewJob],
        now: datetime,
        *,
        settled: int | None,
        skip: frozenset[int] = frozenset(),
        limit: int = 500,
    ) -> ReleasePass | None:
        return await self._db.write(
            dependencies.release,
            self._backend,
            graph,
            templates,
            now,
            settled=settled,
            skip=skip,
            limit=limit,
        )

    async def fire_due(
        self, now: datetime, limit: int, plan: FirePlanner, *, horizon: datetime | None = None
    ) -> tuple[int, list[int]]:
        return await self._backend.fire_due(now, horizon or now, limit, plan)

    async def next_fire_time(self) -> datetime | None:
        return await self._db.read(tasks.next_fire_time)

    # --- task definitions ---------------------------------------------------------------------
    async def get_task(self, name: str) -> Task | None:
        return await self._db.read(tasks.get, name)

    async def get_tasks(self, names: Sequence[str]) -> list[Task]:
        return await self._db.read(tasks.get_many, names)

    async def list_tasks(self, *, include_removed: bool = True) -> list[Task]:
        return await self._db.read(tasks.list_all, include_removed)

    async def search_tasks(
        self,
        query: TaskFilter,
        now: datetime,
        *,
        after: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> TaskPage:
        return await self._db.read(tasks.search, self._backend, query, now, after, offset, limit)

    async def sync_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        sources: Sequence[TaskSource],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> SyncReport:
        return await self._db.write(
            tasks.sync, self._backend, definitions, sources, next_fires, now
        )

    async def add_missing_tasks(
        self,
        definitions: Sequence[TaskDefinition],
        next_fires: dict[str, datetime | None],
        now: datetime,
    ) -> list[str]:
        if not definitions:
            return []
        return await self._db.write(tasks.add_missing, self._backend, definitions, next_fires, now)

    async def create_task(
        self,
        definition: TaskDefinition,
        source: TaskSource,
        next_fire_at: datetime | None,
        now: datetime,
    ) -> Task:
        return await self._db.write(tasks.create, definition, source, next_fire_at, now)

    async def update_task(
        self, definition: TaskDefinition, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        return await self._db.write(tasks.update, definition, next_fire_at, now)

    async def remove_task(self, name: str, now: datetime) -> Task | None:
        return await self._db.write(tasks.remove, self._backend, name, now)

    async def set_task_enabled(
        self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime
    ) -> Task | None:
        return await self._db.write(tasks.set_enabled, name, enabled, next_fire_at, now)

    async def pause_task(self, name: str, pause: TaskPause) -> Task | None:
        return await self._db.write(tasks.pause, name, pause)

    async def resume_task(
        self,
        name: str,
        paused_at: datetime,
        next_fire_at: datetime | None,
        missed: Sequence[NewMissedFire],
        now: datetime,
    ) -> Task | None:
        return await self._db.write(tasks.resume, name, paused_at, next_fire_at, missed, now)

    # --- an operator's actions on jobs ------------------------------------------------------------
    async def cancel_job(self, job_id: int, now: datetime, reason: str) -> Job | None:
        return await self._db.write(jobs.cancel, self._backend, job_id, now, reason)

    async def reschedule_job(
        self, job_id: int, scheduled_at: datetime, now: datetime
    ) -> Job | None:
        return await self._db.write(jobs.reschedule, self._backend, job_id, scheduled_at, now)

    async def reset_stuck(
        self,
        older_than_seconds: float,
        now: datetime,
        reason: str,
        *,
        max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS,
    ) -> list[Job]:
        cutoff = now - timedelta(seconds=older_than_seconds)
        return await self._db.write(
            jobs.reset_stuck, self._backend, cutoff, now, reason, max_interruptions
        )

    async def explain_hold(
        self, job_id: int, now: datetime, rules: ClaimRules | None = None
    ) -> Hold | None:
        holds = await self.explain_holds([job_id], now, rules)
        return holds.get(job_id)

    async def explain_holds(
        self, job_ids: Sequence[int], now: datetime, rules: ClaimRules | None = None
    ) -> dict[int, Hold]:
        return await self._backend.explain_holds(job_ids, now, rules or ClaimRules())

    async def notify_workers(self) -> None:
        await self._backend.notify_workers()

    async def notify_alerts(self) -> None:
        await self._backend.notify_alerts()

    # --- queries ------------------------------------------------------------------------------
    async def get_job(self, job_id: int) -> Job | None:
        return await self._db.read(jobs.get, job_id)

    async def query_jobs(self, query: JobQuery) -> list[Job]:
        return await self._db.read(jobs.query, query)

    async def get_run(self, run_id: int) -> Run | None:
        return await self._db.read(runs.get, run_id)

    async def query_runs(self, query: RunQuery) -> list[Run]:
        return await self._db.read(runs.query, query)

    async def last_run_statuses(self, task_names: Sequence[str]) -> dict[str, RunStatus]:
        return await self._db.read(latest.statuses, task_names)

    async def recent_runs(
        self, task_names: Sequence[str], per_task: int
    ) -> dict[str, list[RunMark]]:
        return await self._db.read(runs.recent_marks, self._backend, task_names, per_task)

    # --- failures -----------------------------------------------------------------------------
    async def failed_jobs(
        self, start: datetime, end: datetime, task_name: str | None, limit: int
    ) -> list[FailedJob]:
        return await self._db.read(failures.failed_jobs, start, end, task_name, limit)

    async def failure_acks(self, fingerprints: Sequence[str]) -> dict[str, datetime]:
        if not fingerprints:
            return {}
        return await self._db.read(failures.acknowledged, list(fingerprints))

    async def acknowledge_failures(
        self, fingerprint: str, until: datetime, now: datetime, by: str
    ) -> None:
        await self._db.write(failures.acknowledge, self._backend, fingerprint, until, now, by)

    # --- figures ------------------------------------------------------------------------------
    async def count_jobs_by_state(self, *, finished: bool = True) -> dict[JobState, int]:
        return await self._db.read(jobs.count_by_state, finished)

    async def running_counts_by_worker(self) -> dict[str, int]:
        return await self._db.read(jobs.running_by_worker)

    async def queue_stats(self, now: datetime, *, finished: bool = True) -> QueueStats:
        return await self._db.read(jobs.queue_stats, now, finished)

    async def run_stats(
        self, start: datetime, end: datetime, task_name: str | None = None
    ) -> list[RunStats]:
        return await self._db.read(self._backend.run_stats, start, end, task_name)

    async def runs_by_hour(self, start: datetime, end: datetime) -> dict[int, int]:
        return await self._db.read(runs.by_hour, self._backend, start, end)

    async def cluster_figures(self, now: datetime) -> ClusterFigures:
        return await self._db.read(metrics.cluster_figures, now)

    # --- rollups --------------------------------------------------------------------------------
    async def read_rollups(self, query: RollupQuery) -> RollupData:
        return await self._db.read(rollups.read, query, self.rollup_cache)

    async def failing_since(self, task_names: Sequence[str]) -> dict[str, datetime]:
        if not task_names:
            return {}
        return await self._db.read(rollups.failing_since, list(task_names))

    async def missed_fire_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        return await self._db.read(rollups.missed_fire_counts, start, end)

    async def insight_surroundings(
        self, now: datetime, failing: Sequence[str], start: datetime, end: datetime
    ) -> Surroundings:
        return await self._db.read(insights.surroundings, now, list(failing), start, end)

    # --- processors -----------------------------------------------------------------------------
    async def heartbeat(self, info: ProcessorInfo) -> None:
        await self._db.write(processors.heartbeat, info)

    async def list_processors(self) -> list[ProcessorInfo]:
        return await self._db.read(processors.list_all)

    # --- run-time control -----------------------------------------------------------------------
    async def get_control(self) -> ControlState:
        return await self._db.read(control.get)

    async def set_control(self, state: ControlState) -> ControlState:
        return await self._db.write(control.put, self._backend, state)

    # --- run events, missed fires -------------------------------------------------------------
    async def add_run_events(
        self, events: Sequence[NewRunEvent], trims: Sequence[OutputTrim] = ()
    ) -> None:
        if events or trims:
            await self._db.write(activity.add_events, events, trims)

    async def query_run_events(self, query: RunEventQuery) -> list[RunEvent]:
        return await self._db.read(activity.query_events, query)

    async def latest_run_event_id(self) -> int:
        return await self._db.read(activity.last_event_id)

    async def add_missed_fires(self, fires: Sequence[NewMissedFire], now: datetime) -> None:
        if fires:
            await self._db.write(activity.add_missed, fires, now)

    async def query_missed_fires(self, query: MissedFireQuery) -> list[MissedFire]:
        return await self._db.read(activity.query_missed, query)

    async def count_missed_fires(self, query: MissedFireQuery) -> list[MissedCount]:
        return await self._db.read(activity.count_missed, query)

    # --- auto-rescheduling ---------------------------------------------------------------------
    async def lock_autoschedule(self) -> PruneLock | None:
        return await retention.lock(self._db, overrides.AUTOSCHEDULE_LOCK_KEY)

    async def auto_overrides(self, task_names: Sequence[str]) -> dict[str, Override]:
        if not task_names:
            return {}
        return await self._db.read(overrides.overrides, self._backend, task_names)

    async def job_states(self, job_ids: Sequence[int]) -> dict[int, str]:
        if not job_ids:
            return {}
        return await self._db.read(overrides.job_states, job_ids)

    async def write_overrides(self, writes: Sequence[OverrideWrite]) -> list[bool]:
        if not writes:
            return []
        return await self._db.write(overrides.write, writes)

    # --- retention ------------------------------------------------------------------------------
    async def lock_pruning(self) -> PruneLock | None:
        return await retention.lock(self._db)

    async def prune_targets(self, policy: RetentionPolicy, now: datetime) -> list[PruneTarget]:
        return await self._db.read(retention.targets, policy, now)

    async def prune_batch(self, target: PruneTarget, limit: int) -> dict[str, int]:
        return await self._db.write(retention.prune_batch, target, limit)

    async def count_prunable(self, target: PruneTarget) -> dict[str, int]:
        return await self._db.read(retention.count, target)

    # --- alerts ---------------------------------------------------------------------------------
    async def alert_runs(self, limits: Mapping[str, int]) -> dict[str, list[RunFact]]:
        if not any(n > 0 for n in limits.values()):
            return {}
        return await self._db.read(alerts.alert_runs, self._backend, limits)

    async def running_since(self, task_names: Sequence[str]) -> dict[str, datetime]:
        if not task_names:
            return {}
        return await self._db.read(alerts.running_since, self._backend, task_names)

    async def latest_batches(self, task_names: Sequence[str]) -> dict[str, tuple[int, int]]:
        if not task_names:
            return {}
        return await self._db.read(alerts.latest_batches, self._backend, task_names)

    async def late_fires(
        self, task_names: Sequence[str], now: datetime
    ) -> dict[str, tuple[datetime | None, int]]:
        if not task_names:
            return {}
        return await self._db.read(alerts.late_fires, self._backend, task_names, now)

    async def channel_health(self) -> dict[str, ChannelHealth]:
        return await self._db.read(alerts.channel_health)

    async def alert_states(self, rules: Sequence[str] | None = None) -> dict[AlertKey, AlertState]:
        return await self._db.read(alerts.states, rules)

    async def write_alerts(
        self, writes: Sequence[AlertWrite], now: datetime
    ) -> list[list[int] | None]:
        if not writes:
            return []
        return await self._db.write(alerts.write, self._backend, writes, now)

    async def alert_history(self, query: TransitionQuery) -> list[TransitionRecord]:
        return await self._db.read(alerts.history, query)

    async def record_delivery(self, channel: str, now: datetime, error: str | None) -> None:
        await self._db.write(alerts.record_delivery, self._backend, channel, now, error)

    # --- heartbeat checks -----------------------------------------------------------------------
    async def list_checks(self) -> list[Check]:
        return await self._db.read(checks.list_all)

    async def get_check(self, key: str) -> Check | None:
        return await self._db.read(checks.get, key)

    async def create_check(self, check: Check) -> Check | None:
        return await self._db.write(checks.create, self._backend, check)

    async def update_check(self, uuid: str, spec: CheckSpec) -> Check | None:
        return await self._db.write(checks.update, self._backend, uuid, spec)

    async def pause_check(self, uuid: str, paused_at: datetime | None) -> Check | None:
        return await self._db.write(checks.pause, uuid, paused_at)

    async def delete_check(self, uuid: str) -> Check | None:
        return await self._db.write(checks.delete, uuid)

    async def record_ping(self, write: PingWrite) -> RecordedPing | None:
        return await self._db.write(checks.record_ping, self._backend, write)

    async def check_pings(
        self, uuid: str, *, limit: int = 50, before_id: int | None = None
    ) -> list[Ping]:
        return await self._db.read(checks.pings, uuid, limit, before_id)

    async def sync_checks(self, wanted: Sequence[Check], now: datetime) -> CheckSyncReport:
        return await self._db.write(checks.sync, self._backend, wanted, now)

    async def check_histories(
        self, start: datetime, end: datetime
    ) -> list[tuple[Check, PingHistory]]:
        return await self._db.read(ping_history.histories, start, end)

    async def check_hours(self, start: datetime, end: datetime) -> list[KeptHours]:
        return await self._db.read(ping_history.kept_hours, start, end)

    async def keep_check_hours(self, figures: Sequence[HourFigures]) -> None:
        await self._db.write(ping_history.keep_hours, self._backend, figures)


def _ping(conn: Connection) -> None:
    conn.execute(sa.select(1)).scalar()
