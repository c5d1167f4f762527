"""Execution policies: task policies, deadline and cancel columns, unique keys, run metrics,
limiters.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE = "state IN ('scheduled', 'available', 'retrying', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("tickwork_tasks") as batch:
        batch.add_column(
            sa.Column("policies", sa.JSON, nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("claim_limited", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_tickwork_tasks_claim_limited",
        "tickwork_tasks",
        ["name"],
        postgresql_where=sa.text("claim_limited"),
        sqlite_where=sa.text("claim_limited"),
    )
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.add_column(sa.Column("watch_job_id", sa.BigInteger))
        batch.add_column(sa.Column("cancel_requested_at", UTCDateTime))
    with op.batch_alter_table("tickwork_runs") as batch:
        batch.add_column(sa.Column("metrics", sa.JSON))
    op.create_index(
        "uq_tickwork_jobs_unique_active",
        "tickwork_jobs",
        ["unique_key"],
        unique=True,
        postgresql_where=sa.text(f"unique_key IS NOT NULL AND {ACTIVE}"),
        sqlite_where=sa.text(f"unique_key IS NOT NULL AND {ACTIVE}"),
    )
    op.create_index(
        "ix_tickwork_jobs_active_task",
        "tickwork_jobs",
        ["task_name"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_tickwork_jobs_unique_key",
        "tickwork_jobs",
        ["unique_key", "finished_at"],
        postgresql_where=sa.text("unique_key IS NOT NULL"),
        sqlite_where=sa.text("unique_key IS NOT NULL"),
    )
    op.create_index(
        "ix_tickwork_jobs_watch",
        "tickwork_jobs",
        ["watch_job_id"],
        postgresql_where=sa.text("watch_job_id IS NOT NULL"),
        sqlite_where=sa.text("watch_job_id IS NOT NULL"),
    )
    op.create_table(
        "tickwork_limiters",
        sa.Column("name", sa.String(450), primary_key=True),
        sa.Column("tat", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tickwork_limiters")
    op.drop_index("ix_tickwork_jobs_watch", "tickwork_jobs")
    op.drop_index("ix_tickwork_jobs_unique_key", "tickwork_jobs")
    op.drop_index("ix_tickwork_jobs_active_task", "tickwork_jobs")
    op.drop_index("uq_tickwork_jobs_unique_active", "tickwork_jobs")
    with op.batch_alter_table("tickwork_runs") as batch:
        batch.drop_column("metrics")
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.drop_column("cancel_requested_at")
        batch.drop_column("watch_job_id")
    op.drop_index("ix_tickwork_tasks_claim_limited", "tickwork_tasks")
    with op.batch_alter_table("tickwork_tasks") as batch:
        batch.drop_column("claim_limited")
        batch.drop_column("policies")
