"""Backfills: ``tickwork_backfills`` (a schedule run for a past range: task, range, who asked,
counts, cancel) and ``tickwork_jobs.backfill_id``, the backfill that created a job.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLE = "tickwork_backfills"


def upgrade() -> None:
    op.create_table(
        TABLE,
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
    op.create_index("ix_tickwork_backfills_task", TABLE, ["task_name", "id"])
    op.create_index(
        "ix_tickwork_backfills_open",
        TABLE,
        ["id"],
        postgresql_where=sa.text("queue_open"),
        sqlite_where=sa.text("queue_open"),
    )
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.add_column(sa.Column("backfill_id", sa.BigInteger))
    op.create_index(
        "ix_tickwork_jobs_backfill",
        "tickwork_jobs",
        ["backfill_id", "state"],
        postgresql_where=sa.text("backfill_id IS NOT NULL"),
        sqlite_where=sa.text("backfill_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickwork_jobs_backfill", table_name="tickwork_jobs")
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.drop_column("backfill_id")
    op.drop_index("ix_tickwork_backfills_open", table_name=TABLE)
    op.drop_index("ix_tickwork_backfills_task", table_name=TABLE)
    op.drop_table(TABLE)
