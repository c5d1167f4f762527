"""Analytics rollups: run counts and duration histograms per task per minute, hour and day;
series, per-key and error counts.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Read by (period, bucket start) ranges: stored in that order on SQLite (``schema.py``).
    op.create_table(
        "tickwork_rollups",
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
    op.create_table(
        "tickwork_series_rollups",
        sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bucket_start", UTCDateTime, primary_key=True),
        sa.Column("task_name", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_tickwork_series_rollups_task",
        "tickwork_series_rollups",
        ["task_name", "period_seconds", "status", "bucket_start"],
    )
    op.create_table(
        "tickwork_key_rollups",
        sa.Column("period_seconds", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bucket_start", UTCDateTime, primary_key=True),
        sa.Column("task_name", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tickwork_error_rollups",
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


def downgrade() -> None:
    op.drop_table("tickwork_error_rollups")
    op.drop_table("tickwork_key_rollups")
    op.drop_table("tickwork_series_rollups")
    op.drop_table("tickwork_rollups")
