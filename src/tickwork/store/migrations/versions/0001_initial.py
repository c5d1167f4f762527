"""Initial schema: tasks, jobs, runs, processors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PENDING = "state IN ('scheduled', 'available', 'retrying')"
PROBLEMS = "state IN ('failed', 'timeout', 'cancelled')"
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickwork_tasks",
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
        sa.Column("removed_at", UTCDateTime),
        sa.Column("next_fire_at", UTCDateTime),
        sa.Column("last_fire_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_tickwork_tasks_next_fire",
        "tickwork_tasks",
        ["next_fire_at"],
        postgresql_where=sa.text("next_fire_at IS NOT NULL"),
        sqlite_where=sa.text("next_fire_at IS NOT NULL"),
    )
    op.create_table(
        "tickwork_jobs",
        sa.Column("id", ID, primary_key=True),
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
        sa.UniqueConstraint("task_name", "fire_at", name="uq_tickwork_jobs_fire"),
    )
    op.create_index(
        "ix_tickwork_jobs_pending",
        "tickwork_jobs",
        [sa.text("priority DESC"), "scheduled_at", "id"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index(
        "ix_tickwork_jobs_running",
        "tickwork_jobs",
        ["lease_expires_at"],
        postgresql_where=sa.text("state = 'running'"),
        sqlite_where=sa.text("state = 'running'"),
    )
    op.create_index("ix_tickwork_jobs_task", "tickwork_jobs", ["task_name", "id"])
    op.create_index(
        "ix_tickwork_jobs_problems",
        "tickwork_jobs",
        ["id"],
        postgresql_where=sa.text(PROBLEMS),
        sqlite_where=sa.text(PROBLEMS),
    )
    op.create_table(
        "tickwork_runs",
        sa.Column("id", ID, primary_key=True),
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
    )
    op.create_index("ix_tickwork_runs_task_started", "tickwork_runs", ["task_name", "started_at"])
    op.create_index("ix_tickwork_runs_job", "tickwork_runs", ["job_id"])
    op.create_index("ix_tickwork_runs_started", "tickwork_runs", ["started_at"])
    op.create_table(
        "tickwork_processors",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("stopped_at", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("tickwork_processors")
    op.drop_table("tickwork_runs")
    op.drop_table("tickwork_jobs")
    op.drop_table("tickwork_tasks")
