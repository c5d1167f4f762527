"""The schema both dialects share (SQLAlchemy Core tables), and the job-state sets and the overlap
rule that their statements spell the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

PENDING_SQL = ("scheduled", "available", "retrying")
ACTIVE_SQL = (*PENDING_SQL, "running")
PROBLEM_SQL = ("failed", "timeout", "cancelled")
FAILED_SQL = ("failed", "timeout")

# A task's jobs that count as "a previous run is still active" for its overlap policy: running,
# due, retrying, or a fire of its schedule waiting for its time (e.g. a calendar's opening).
# A one-off job waiting for a later time (an enqueue with a delay), or a backfill's job waiting
# for its turn, is not active yet; its time is compared with ``:horizon``, that of the fires
# being made. One text for every dialect
# (sqlite3 and SQLAlchemy's ``text`` both take ``:name`` parameters), over jobs aliased ``j``.
ACTIVE_FOR_OVERLAP = (
    "(j.state IN ('available', 'retrying', 'running')"
    " OR (j.state = 'scheduled' AND ((j.fire_at IS NOT NULL AND j.backfill_id IS NULL)"
    " OR j.scheduled_at <= :horizon)))"
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes: TIMESTAMPTZ on PostgreSQL, epoch seconds (REAL) on SQLite.

    Epoch seconds keep SQLite comparisons and sorting numeric and cheap; microsecond precision
    holds for dates far beyond this century.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Float())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        if dialect.name == "sqlite":
            return value.timestamp()
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


# Every table; those of alerts and heartbeat checks are defined on it in store/schema_alerting.py.
metadata = sa.MetaData()

tasks = sa.Table(
    "tickwork_tasks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.JSON, nullable=False),
    sa.Column("schedule", sa.Text),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("timeout_seconds", sa.Float),
    sa.Column("max_retries", sa.Integer, nullable=False),
    sa.Column("backoff", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("kwargs", sa.JSON, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    # Execution policies (domain/limits.py), as one JSON document: they change together.
    sa.Column("policies", sa.JSON, nullable=False, server_default=sa.text("'{}'")),
    # Derived from policies: some of them can hold jobs back at claim time. While no task has
    # it (and no process-wide limit is set), claims take the one-statement path.
    sa.Column("claim_limited", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("removed_at", UTCDateTime),
    sa.Column("next_fire_at", UTCDateTime),
    sa.Column("last_fire_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A pause (domain.tasks.TaskPause), set when paused_at is: the operator's state, which a
    # definitions sync leaves alone. pause_until NULL: until resumed by hand.
    sa.Column("paused_at", UTCDateTime),
    sa.Column("paused_by", sa.String(200)),
    sa.Column("pause_reason", sa.Text),
    sa.Column("pause_until", UTCDateTime),
    # Auto-rescheduling's override (domain.autoschedule.Override), apart from the defined
    # schedule: a sync never writes it, undo resets it. auto_breaker NULL: closed.
    sa.Column("auto_stride", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("auto_offset_seconds", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("auto_breaker", sa.String(16)),
    sa.Column("auto_breaker_at", UTCDateTime),
    sa.Column("auto_probe_job_id", sa.BigInteger),
    sa.Column("auto_changed_at", UTCDateTime),
)
sa.Index(
    "ix_tickwork_tasks_claim_limited",
    tasks.c.name,
    postgresql_where=sa.text("claim_limited"),
    sqlite_where=sa.text("claim_limited"),
)
# The paused tasks alone (few): when one's pause ends (``tasks.next_fire_time``).
sa.Index(
    "ix_tickwork_tasks_paused",
    tasks.c.pause_until,
    postgresql_where=tasks.c.paused_at.isnot(None),
    sqlite_where=tasks.c.paused_at.isnot(None),
)
sa.Index(
    "ix_tickwork_tasks_next_fire",
    tasks.c.next_fire_at,
    postgresql_where=tasks.c.next_fire_at.isnot(None),
    sqlite_where=tasks.c.next_fire_at.isnot(None),
)

jobs = sa.Table(
    "tickwork_jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("kwargs", sa.JSON, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("key", sa.String(200)),
    sa.Column("unique_key", sa.String(200)),
    sa.Column("scheduled_at", UTCDateTime, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("triggered_by", sa.String(16), nullable=False),
    sa.Column("fire_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    # A deadline job watches another; it is cancelled when the watched job succeeds in time.
    sa.Column("watch_job_id", sa.BigInteger),
    # Set when the job should stop (cancel of a running job, overlap=replace); its worker acts.
    sa.Column("cancel_requested_at", UTCDateTime),
    # Who asked for the job when a person or token did (a user or token name), else None.
    sa.Column("requested_by", sa.String(200)),
    # The backfill that created the job (``tickwork_backfills``), else None.
    sa.Column("backfill_id", sa.BigInteger),
    # The upstream run whose end released this job (``after``, domain/dependencies.py).
    sa.Column("released_by_run_id", sa.BigInteger),
    # One job per schedule fire, however many schedulers race for it.
    sa.UniqueConstraint("task_name", "fire_at", name="uq_tickwork_jobs_fire"),
)
_pending = jobs.c.state.in_(PENDING_SQL)
# The claim query walks this index in order: highest priority, then oldest due time.
sa.Index(
    "ix_tickwork_jobs_pending",
    jobs.c.priority.desc(),
    jobs.c.scheduled_at,
    jobs.c.id,
    postgresql_where=_pending,
    sqlite_where=_pending,
)
sa.Index(
    "ix_tickwork_jobs_running",
    jobs.c.lease_expires_at,
    postgresql_where=jobs.c.state == "running",
    sqlite_where=jobs.c.state == "running",
)
sa.Index("ix_tickwork_jobs_task", jobs.c.task_name, jobs.c.id)
sa.Index(
    "ix_tickwork_jobs_backfill",
    jobs.c.backfill_id,
    jobs.c.state,
    postgresql_where=jobs.c.backfill_id.isnot(None),
    sqlite_where=jobs.c.backfill_id.isnot(None),
)
# Retention walks finished jobs by age; pending and running jobs (no finished_at) stay out.
sa.Index(
    "ix_tickwork_jobs_finished",
    jobs.c.finished_at,
    postgresql_where=jobs.c.finished_at.isnot(None),
    sqlite_where=jobs.c.finished_at.isnot(None),
)
_active = jobs.c.state.in_(ACTIVE_SQL)
# At most one active job per unique key; the database enforces it against racing enqueues.
sa.Index(
    "uq_tickwork_jobs_unique_active",
    jobs.c.unique_key,
    unique=True,
    postgresql_where=sa.and_(jobs.c.unique_key.isnot(None), _active),
    sqlite_where=sa.and_(jobs.c.unique_key.isnot(None), _active),
)


# Active jobs per task, for the overlap policy: small, as finished jobs leave it.
sa.Index(
    "ix_tickwork_jobs_active_task",
    jobs.c.task_name,
    postgresql_where=_active,
    sqlite_where=_active,
)
sa.Index(
    "ix_tickwork_jobs_unique_key",
    jobs.c.unique_key,
    jobs.c.finished_at,
    postgresql_where=jobs.c.unique_key.isnot(None),
    sqlite_where=jobs.c.unique_key.isnot(None),
)
sa.Index(
    "ix_tickwork_jobs_watch",
    jobs.c.watch_job_id,
    postgresql_where=jobs.c.watch_job_id.isnot(None),
    sqlite_where=jobs.c.watch_job_id.isnot(None),
)
# One release per downstream task and upstream run (store/dependencies.py); a task's latest.
sa.Index(
    "uq_tickwork_jobs_released_by",
    jobs.c.task_name,
    jobs.c.released_by_run_id,
    unique=True,
    postgresql_where=jobs.c.released_by_run_id.isnot(None),
    sqlite_where=jobs.c.released_by_run_id.isnot(None),
)
# Failed, timed-out and cancelled jobs are few and worth finding; an index over every state
# would be rewritten twice per job and lured SQLite's planner away from the pending index.
_problem = jobs.c.state.in_(PROBLEM_SQL)
sa.Index(
    "ix_tickwork_jobs_problems",
    jobs.c.id,
    postgresql_where=_problem,
    sqlite_where=_problem,
)

# The failures list reads the failed and timed-out jobs of a range, newest first: a range
# of this index, however many jobs succeeded in between.
_failed = jobs.c.state.in_(FAILED_SQL)
sa.Index(
    "ix_tickwork_jobs_failed",
    jobs.c.finished_at,
    postgresql_where=_failed,
    sqlite_where=_failed,
)

runs = sa.Table(
    "tickwork_runs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", sa.BigInteger, nullable=False),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("triggered_by", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=False),
    sa.Column("duration_seconds", sa.Float, nullable=False),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("error_type", sa.String(200)),
    sa.Column("error_class", sa.String(16)),
    sa.Column("error_message", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.Column("exit_code", sa.Integer),
    sa.Column("output", sa.Text),
    sa.Column("result", sa.JSON),
    # Partial results a task reported: counters (processed, failed) and metrics.
    sa.Column("metrics", sa.JSON),
    # Resource use of the attempt. ``resource_scope`` says whose figures they are: "process"
    # (the job's own process tree: shell, isolated Python), "thread" (the thread that ran a
    # sync task in the worker) or "worker" (an async task's share of the worker's process).
    sa.Column("peak_memory_mb", sa.Float),
    sa.Column("cpu_seconds", sa.Float),
    sa.Column("cpu_percent", sa.Float),
    sa.Column("resource_scope", sa.String(16)),
    # Who asked for the job when a person or token did (a user or token name), else None.
    sa.Column("requested_by", sa.String(200)),
)
# A task's runs newest first (``runs.NEWEST_FIRST``), ties by ID, from the index alone on
# both dialects (SQLite would keep the row ID in it anyway).
sa.Index("ix_tickwork_runs_task_started", runs.c.task_name, runs.c.started_at, runs.c.id)
sa.Index("ix_tickwork_runs_job", runs.c.job_id)
sa.Index("ix_tickwork_runs_started", runs.c.started_at)

# Each task's latest run (``store/latest.py``), kept as runs are recorded: the jobs list's filter
# on the latest run's status reads the status index instead of seeking every task's newest run.
task_latest = sa.Table(
    "tickwork_task_latest",
    metadata,
    sa.Column("task_name", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)
sa.Index("ix_tickwork_task_latest_status", task_latest.c.status, task_latest.c.task_name)

# How far releasing downstream jobs has read the runs: every run up to ``run_id`` was handled.
dependency_cursor = sa.Table(
    "tickwork_dependency_cursor",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

processors = sa.Table(
    "tickwork_processors",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
)

# Rate limits and cooldowns: one row per limiter (e.g. "task:send", "key:user-7"), holding its
# GCRA "theoretical arrival time"; starts are admitted while it is not too far ahead of now.
limiters = sa.Table(
    "tickwork_limiters",
    metadata,
    sa.Column("name", sa.String(450), primary_key=True),
    sa.Column("tat", UTCDateTime, nullable=False),
)

# --- accounts, audit and run-time control (the API) -----------------------------------------
users = sa.Table(
    "tickwork_users",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text),  # argon2id; None: tokens only
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime),
)

tokens = sa.Table(
    "tickwork_tokens",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    # SHA-256 of the random secret: tokens carry 256 bits, so a slow hash adds nothing.
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
)
sa.Index("ix_tickwork_tokens_user", tokens.c.user_id)

# Dashboard sessions: the SHA-256 of the cookie's random secret (256 bits, like tokens).
sessions = sa.Table(
    "tickwork_sessions",
    metadata,
    sa.Column("secret_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
)
sa.Index("ix_tickwork_sessions_last_seen", sessions.c.last_seen_at)

audit = sa.Table(
    "tickwork_audit",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target", sa.String(450), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("request_id", sa.String(64)),
)
sa.Index("ix_tickwork_audit_target", audit.c.target_type, audit.c.target, audit.c.id)
sa.Index("ix_tickwork_audit_actor", audit.c.actor, audit.c.id)
sa.Index("ix_tickwork_audit_at", audit.c.at)

# Acknowledged failures (``domain/failures.py``): per error fingerprint, the time up to which
# its failed jobs are dealt with (discarded or retried) and leave the failures list. The jobs
# and runs stay as they were; one row per fingerprint ever acknowledged.
failure_acks = sa.Table(
    "tickwork_failure_acks",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("acknowledged_until", UTCDateTime, nullable=False),
    sa.Column("acknowledged_at", UTCDateTime, nullable=False),
    sa.Column("acknowledged_by", sa.String(200), nullable=False),
)

# One row per control setting (paused, batch_size, ...), each a JSON value.
control = sa.Table(
    "tickwork_control",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)


# --- activity: what runs emit, and fires that did not become runs ---------------------------
# Progress and events a task emits while it runs (bounded per run by the worker).
run_events = sa.Table(
    "tickwork_run_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", sa.BigInteger, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "progress" | "event"
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("done", sa.Float),
    sa.Column("total", sa.Float),
    sa.Column("data", sa.JSON),
)
sa.Index("ix_tickwork_run_events_job", run_events.c.job_id, run_events.c.attempt, run_events.c.id)
sa.Index("ix_tickwork_run_events_at", run_events.c.at)

# A schedule's fire that did not become a run, and why: overlap, misfire, calendar, disabled,
# paused, or no scheduler was up at the time. ``job_id``: the skipped job, if one was written.
missed_fires = sa.Table(
    "tickwork_missed_fires",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("fire_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("job_id", sa.BigInteger),
)
sa.Index("ix_tickwork_missed_fires_task", missed_fires.c.task_name, missed_fires.c.fire_at)
sa.Index("ix_tickwork_missed_fires_recorded", missed_fires.c.recorded_at)

# --- rollups: analytics kept current as runs finish, never scans of the runs table ----------
# Per task and period (60: a minute, 3600: an hour, 86400: a UTC day, 0: since the beginning)
# and bucket start (the period's start; the epoch for period 0), ``measure`` "duration" rows
# count runs by status in each histogram bucket (``domain.histogram``) with their summed
# seconds; "wait" rows (status "") count due-to-start waits the same way. Writers add to
# ``count`` and ``total``, so concurrent workers never lose an update.
rollups = sa.Table(
    "tickwork_rollups",
    metadata,
    sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("bucket_start", UTCDateTime, primary_key=True),
    sa.Column("task_name", sa.String(200), primary_key=True),
    sa.Column("measure", sa.String(8), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("bucket", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

# The tables below, like the one above, are read by ranges of (period, bucket start): their
# primary keys start with those two, and on SQLite they are stored in that order (WITHOUT
# ROWID), so a range's rows are read from one place, with no lookup per row. Periods: 60
# (series only), 3600 and 86400; the day rows let a range of days read a row per day where hour
# rows would need 24.

# Runs per task, period and bucket start by status, with their summed seconds: the series
# (trends, peak hours) and the last failures, without the histogram buckets of the above.
series_rollups = sa.Table(
    "tickwork_series_rollups",
    metadata,
    sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("bucket_start", UTCDateTime, primary_key=True),
    sa.Column("task_name", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)
# A task's last hours of one status (``failing_since``): a seek per task, not a scan.
sa.Index(
    "ix_tickwork_series_rollups_task",
    series_rollups.c.task_name,
    series_rollups.c.period_seconds,
    series_rollups.c.status,
    series_rollups.c.bucket_start,
)

# Runs by concurrency key, per period (hour, day), bucket start and task, by status.
key_rollups = sa.Table(
    "tickwork_key_rollups",
    metadata,
    sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("bucket_start", UTCDateTime, primary_key=True),
    sa.Column("task_name", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Failures per period (hour, day), bucket start and task by fingerprint: the error's class and
# message with numbers and IDs normalised, plus the top stack frame; one sample message and
# frame kept for display.
error_rollups = sa.Table(
    "tickwork_error_rollups",
    metadata,
    sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("bucket_start", UTCDateTime, primary_key=True),
    sa.Column("task_name", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("error_type", sa.String(200)),
    sa.Column("error_class", sa.String(16)),
    sa.Column("message", sa.Text),
    sa.Column("frame", sa.Text),
    sa.Column("count", sa.BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Backfills: a schedule run for a past range (``domain.backfills``); their jobs carry the ID
# (``tickwork_jobs.backfill_id``). ``queue_open``: a ``queue`` backfill with jobs still waiting
# for their turn, which the scheduler releases one at a time.
backfills = sa.Table(
    "tickwork_backfills",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("range_start", UTCDateTime, nullable=False),
    sa.Column("range_end", UTCDateTime, nullable=False),
    sa.Column("overlap", sa.String(8), nullable=False),
    sa.Column("max_fires", sa.Integer, nullable=False),
    sa.Column("fires", sa.Integer, nullable=False),
    sa.Column("jobs_created", sa.Integer, nullable=False),
    sa.Column("jobs_present", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(200)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("cancelled_at", UTCDateTime),
    sa.Column("cancelled_by", sa.String(200)),
    sa.Column("queue_open", sa.Boolean, nullable=False),
)
sa.Index("ix_tickwork_backfills_task", backfills.c.task_name, backfills.c.id)
sa.Index(
    "ix_tickwork_backfills_open",
    backfills.c.id,
    postgresql_where=sa.text("queue_open"),
    sqlite_where=sa.text("queue_open"),
)
